"""Runs a moto server on 127.0.0.1 for the integration tests and the demo.

Usage: moto_server.py PORT   (0 picks a free port)

Prints `ready PORT` (the port actually bound) once the server accepts
connections, then serves until its standard input reaches EOF, so the server
dies with the process that started it, even if that process crashes.

The app is moto's own (as `moto.server.ThreadedMotoServer` builds it) behind
`cbor_shim.CborShim`, which translates CloudWatch's Smithy RPC v2 CBOR
protocol to the AWS JSON 1.0 moto serves (see cbor_shim.py); every other
request reaches moto untouched.
"""

import logging
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from cbor_shim import CborShim


def fix_moto() -> None:
    """Fixes places where moto 5.2.5 answers a request AWS accepts
    differently from AWS. Nothing moto refuses is let through and no new
    behaviour is invented: each fix makes moto keep or report what AWS
    documents for that request; docs/testing.md lists each fix.

    - GetBucketVersioning answers with a `GetBucketVersioningResponse` root
      element; S3 (and the Rust SDK, which checks it) use `VersioningConfiguration`.
    - DB instances drop `EnablePerformanceInsights` (create and modify) and the
      PI key and retention (create): AWS keeps and describes all three, with a
      retention of 7 days when none is given.
    - Aurora clusters: `StorageType` `aurora`/`aurora-iopt1` crash CreateDBCluster
      (no default storage size for them) and a cluster created without one
      reports `gp2`; AWS stores the type given, `aurora` by default.
    - AWS Backup's ListTags: moto reads the ARN as the path's second-to-last
      segment, which works for botocore's `/tags/{arn}/` but answers no tags
      for the `/tags/{arn}` the current API model (and aws-sdk-rust) sends.
    """
    from moto.s3.responses import S3Response

    original = S3Response.get_bucket_versioning

    def get_bucket_versioning(self):  # type: ignore[no-untyped-def]
        status, headers, body = original(self)
        wrong, right = "GetBucketVersioningResponse", "VersioningConfiguration"
        if isinstance(body, bytes):
            body = body.replace(wrong.encode(), right.encode())
        else:
            body = body.replace(wrong, right)
        return status, headers, body

    S3Response.get_bucket_versioning = get_bucket_versioning

    fix_performance_insights()
    fix_aurora_storage_type()
    fix_backup_list_tags()
    fix_iam_start_cost()


def fix_performance_insights() -> None:
    from moto.rds.models import DBInstance

    def keep(db, kwargs, creating):  # type: ignore[no-untyped-def]
        enabled = kwargs.get("enable_performance_insights")
        if enabled is not None:
            db.performance_insights_enabled = enabled
        for key in ("performance_insights_kms_key_id", "performance_insights_retention_period"):
            if creating and kwargs.get(key) is not None:
                setattr(db, key, kwargs[key])
        if getattr(db, "performance_insights_enabled", False) and not getattr(
            db, "performance_insights_retention_period", None
        ):
            db.performance_insights_retention_period = 7

    original_init, original_update = DBInstance.__init__, DBInstance.update

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        keep(self, kwargs, True)

    def update(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_update(self, *args, **kwargs)
        keep(self, kwargs, False)

    DBInstance.__init__, DBInstance.update = init, update


def fix_aurora_storage_type() -> None:
    from moto.rds.models import DBCluster

    aurora_types = ("aurora", "aurora-iopt1")
    original_init = DBCluster.__init__
    original_allocated = DBCluster.default_allocated_storage

    def default_allocated_storage(engine, storage_type):  # type: ignore[no-untyped-def]
        if storage_type in aurora_types:
            return 1
        return original_allocated(engine, storage_type)

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original_init(self, *args, **kwargs)
        if self.engine.startswith("aurora") and kwargs.get("storage_type") is None:
            self.storage_type = "aurora"

    DBCluster.default_allocated_storage = staticmethod(default_allocated_storage)
    DBCluster.__init__ = init


def fix_backup_list_tags() -> None:
    import json
    from urllib.parse import unquote

    from moto.backup.responses import BackupResponse

    def list_tags(self):  # type: ignore[no-untyped-def]
        resource_arn = unquote(self.path.split("/tags/", 1)[1].split("?", 1)[0].rstrip("/"))
        return json.dumps({"Tags": self.backup_backend.list_tags(resource_arn=resource_arn)})

    assert hasattr(BackupResponse, "list_tags")
    BackupResponse.list_tags = list_tags


def fix_iam_start_cost() -> None:
    """Makes a fresh IAM backend cheap without changing what it holds.

    With AWS-managed policies loaded, every IAM backend parses moto's 1 MB
    policy list and builds ~1,300 policy objects, and moto made one backend
    per partition (aws, aws-cn, aws-us-gov, ...) on the first request after
    every reset, because looking up which account an access key belongs to
    touched each partition. That was 80% of the server's CPU in the test
    suite. Now the list is parsed once per process, and the account lookup
    only asks partitions that exist (one that does not holds no keys).
    """
    import json

    import moto.iam.models as iam

    original_lookup = iam.get_account_id_from

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(iam.iam_backends.items()):
            for partition in iam.PARTITION_NAMES:
                if dict.__contains__(account, partition) and access_key in account[partition].access_keys:
                    return account_id
        return iam.DEFAULT_ACCOUNT_ID

    assert original_lookup.__code__.co_varnames[:1] == ("access_key",)
    iam.get_account_id_from = get_account_id_from

    parsed: list[tuple[str, dict]] = []

    def init_aws_policies(self):  # type: ignore[no-untyped-def]
        from datetime import datetime

        if not iam.load_iam_aws_managed_policies():
            return []
        if not parsed:
            for name, d in json.loads(iam.aws_managed_policies_data).items():
                parsed.append(
                    (
                        name,
                        {
                            "default_version_id": d.get("DefaultVersionId"),
                            "path": d.get("Path"),
                            "document": json.dumps(d.get("Document")),
                            "create_date": datetime.fromisoformat(d["CreateDate"]),
                            "update_date": datetime.fromisoformat(d["UpdateDate"]),
                        },
                    )
                )
        return [
            iam.AWSManagedPolicy(name, account_id=self.account_id, region=self.region_name, **kwargs)
            for name, kwargs in parsed
        ]

    iam.IAMBackend._init_aws_policies = init_aws_policies


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: moto_server.py PORT", file=sys.stderr)
        return 2
    # Per-request access logs would flood the log file; keep errors only.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # AWS-managed policies (AmazonRDSEnhancedMonitoringRole, ...) exist in
    # every account; moto loads them only when asked.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    fix_moto()
    app = CborShim(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"ready {server.server_address[1]}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
