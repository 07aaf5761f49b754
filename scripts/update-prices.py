#!/usr/bin/env python3
"""Regenerate data/prices.toml from AWS Price List bulk offer files.

Usage:
  scripts/update-prices.py [--region R ...] [--peer R=PEER ...] [--as-of YYYY-MM-DD] OFFER.json ... > data/prices.toml

OFFER files are the bulk JSON offer files
(https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<offer>/current/<region>/index.json)
of these offers, one file per offer and region:

  AmazonRDS                    Aurora PostgreSQL and RDS for PostgreSQL instances,
                               storage, I/O, provisioned IOPS and throughput, backup
  AmazonS3                     S3 Standard, Standard-IA and Glacier Flexible Retrieval
                               (usagetype TimedStorage-GlacierByteHrs) storage
  AmazonS3GlacierDeepArchive   S3 Glacier Deep Archive storage (TimedStorage-GDA-ByteHrs;
                               AmazonS3 itself only has Deep Archive's staging SKU)
  awskms                       KMS key-months
  AWSSecretsManager            secret-months
  AmazonVPC                    interface endpoint hours (per endpoint-AZ)
  AmazonCloudWatch             standard-resolution metric alarms
  AWSDataTransfer              inter-region transfer out

The script reads only the files given (no network); a file of another offer
is reported and ignored. Regions default to us-east-1 and us-west-2.

Matching. Each rate is matched on the offer, productFamily, databaseEngine and
the usagetype's suffix (usagetypes carry a region prefix, such as USW2-, except
in us-east-1 where most have none); instance classes on
`(^|-)InstanceUsage(IOOptimized)?:` and keyed by instanceType. Extended Support
rows, rows with a deploymentModel (Custom, Outposts), rows whose locationType
is not "AWS Region", Multi-AZ/Mirror/Multi-AZCluster storage and the
`-LimitlessPreview`, `-Staging` and `Overhead` SKUs never match. RDS storage,
IOPS, throughput and backup rows are taken with databaseEngine PostgreSQL, or
"Any" when the files have no PostgreSQL row for that rate.

Inter-region transfer is priced from the region to its peer region: the row
with transferType "InterRegion Outbound", fromRegionCode = the region,
toRegionCode = the peer and a usagetype ending -AWS-Out-Bytes (destinations
are priced differently). Peers default to us-east-1 <-> us-west-2 (the pair
the shipped stacks replicate between); --peer REGION=PEER sets another.

Only on-demand terms are read; for tiered prices the first tier (the lowest
beginRange, normally 0) is taken. Every SKU that matches a rate is collected;
the script exits 1, naming the region, the rate and the SKUs, when:
  - a rate or instance-class table is not found for a region;
  - more than one distinct price matches one rate or class;
  - a matched price (or its first tier) is 0: nothing is ever written as zero;
  - a matched price is in another unit than the one pgstack's rate means
    (Hrs, GB-Mo, IOs, IOPS-Mo, MBPS-Mo, GB, Keys, Secrets, Alarms).
The file's as_of is the offers' latest publicationDate, or --as-of.
"""

import argparse
import json
import re
import sys

HOURS_PER_MONTH = 730

RATE_KEYS = [
    "aurora_storage_gb_month", "aurora_io_optimized_storage_gb_month", "aurora_io_per_million",
    "aurora_backup_gb_month", "rds_gp2_gb_month", "rds_gp3_gb_month", "rds_gp3_iops_month",
    "rds_gp3_mbps_month", "rds_io1_gb_month", "rds_io1_iops_month", "rds_io2_gb_month",
    "rds_io2_iops_month", "rds_backup_gb_month", "s3_standard_gb_month", "s3_standard_ia_gb_month",
    "s3_glacier_gb_month", "s3_deep_archive_gb_month", "transfer_inter_region_gb", "kms_key_month",
    "secret_month", "interface_endpoint_az_hour", "alarm_month", "logs_ingest_gb", "logs_storage_gb_month",
    "rds_proxy_vcpu_hour",
]

CLASS_TABLES = ("aurora_postgresql", "aurora_postgresql_io_optimized", "rds_postgresql")

DEFAULT_PEERS = {"us-east-1": "us-west-2", "us-west-2": "us-east-1"}

RDS_ENGINES = ("PostgreSQL", "Any")  # in order of preference

# Rates: (offer, productFamily, databaseEngines or None, usagetype suffixes, unit).
# A suffix matches at the start of the usagetype or after a '-' (the region prefix).
RATES = {
    "aurora_storage_gb_month": ("AmazonRDS", "Database Storage", ("Aurora PostgreSQL",),
                                ("Aurora:StorageUsage",), "GB-Mo"),
    "aurora_io_optimized_storage_gb_month": ("AmazonRDS", "Database Storage", ("Aurora PostgreSQL",),
                                             ("Aurora:IO-OptimizedStorageUsage",), "GB-Mo"),
    "aurora_io_per_million": ("AmazonRDS", "System Operation", ("Aurora PostgreSQL",),
                              ("Aurora:StorageIOUsage",), "IOs"),
    "aurora_backup_gb_month": ("AmazonRDS", "Storage Snapshot", ("Aurora PostgreSQL",),
                               ("Aurora:BackupUsage",), "GB-Mo"),
    "rds_gp2_gb_month": ("AmazonRDS", "Database Storage", RDS_ENGINES, ("RDS:GP2-Storage",), "GB-Mo"),
    "rds_gp3_gb_month": ("AmazonRDS", "Database Storage", RDS_ENGINES, ("RDS:GP3-Storage",), "GB-Mo"),
    "rds_io1_gb_month": ("AmazonRDS", "Database Storage", RDS_ENGINES, ("RDS:PIOPS-Storage",), "GB-Mo"),
    "rds_io2_gb_month": ("AmazonRDS", "Database Storage", RDS_ENGINES,
                         ("RDS:IO2-PIOPS-Storage", "RDS:PIOPS-Storage-IO2"), "GB-Mo"),
    "rds_gp3_iops_month": ("AmazonRDS", "Provisioned IOPS", RDS_ENGINES, ("RDS:GP3-PIOPS",), "IOPS-Mo"),
    "rds_io1_iops_month": ("AmazonRDS", "Provisioned IOPS", RDS_ENGINES, ("RDS:PIOPS",), "IOPS-Mo"),
    "rds_io2_iops_month": ("AmazonRDS", "Provisioned IOPS", RDS_ENGINES, ("RDS:IO2-PIOPS",), "IOPS-Mo"),
    "rds_gp3_mbps_month": ("AmazonRDS", "Provisioned Throughput", RDS_ENGINES,
                           ("RDS:GP3-Throughput",), "MBPS-Mo"),
    "rds_backup_gb_month": ("AmazonRDS", "Storage Snapshot", RDS_ENGINES,
                            ("RDS:ChargedBackupUsage",), "GB-Mo"),
    "s3_standard_gb_month": ("AmazonS3", None, None, ("TimedStorage-ByteHrs",), "GB-Mo"),
    "s3_standard_ia_gb_month": ("AmazonS3", None, None, ("TimedStorage-SIA-ByteHrs",), "GB-Mo"),
    "s3_glacier_gb_month": ("AmazonS3", None, None, ("TimedStorage-GlacierByteHrs",), "GB-Mo"),
    "s3_deep_archive_gb_month": ("AmazonS3GlacierDeepArchive", None, None,
                                 ("TimedStorage-GDA-ByteHrs",), "GB-Mo"),
    "kms_key_month": ("awskms", "Encryption Key", None, ("KMS-Keys",), "Keys"),
    "secret_month": ("AWSSecretsManager", "Secret", None, ("AWSSecretsManager-Secrets",), "Secrets"),
    "interface_endpoint_az_hour": ("AmazonVPC", "VpcEndpoint", None, ("VpcEndpoint-Hours",), "Hrs"),
    "alarm_month": ("AmazonCloudWatch", "Alarm", None, ("CW:AlarmMonitorUsage",), "Alarms"),
    "logs_ingest_gb": ("AmazonCloudWatch", "Data Payload", None, ("DataProcessing-Bytes",), "GB"),
    "logs_storage_gb_month": ("AmazonCloudWatch", "Storage Snapshot", None, ("TimedStorage-ByteHrs",), "GB-Mo"),
    # Per vCPU of the PostgreSQL instances behind a proxy (usagetype USE1-RDS:ProxyUsage in us-east-1).
    "rds_proxy_vcpu_hour": ("AmazonRDS", None, RDS_ENGINES, ("RDS:ProxyUsage",), "Hrs"),
    # transfer_inter_region_gb: see classify() (matched on the peer region).
}
TRANSFER = ("AWSDataTransfer", "Data Transfer", "-AWS-Out-Bytes", "GB")
INSTANCE_UNIT = "Hrs"

OFFERS = sorted({r[0] for r in RATES.values()} | {TRANSFER[0]})

INSTANCE_USAGE = re.compile(r"(^|-)InstanceUsage(IOOptimized)?:")
# Usagetype words that never belong to a rate pgstack prices.
EXCLUDED_USAGE = re.compile(r"LimitlessPreview|Staging|Overhead|Multi-AZ|Mirror")


def usage_ends(usage, suffix):
    """Whether usagetype is suffix, or a region prefix, '-', then suffix."""
    return usage == suffix or usage.endswith("-" + suffix)


def first_tiers(terms, sku):
    """[(usd, unit)] of a SKU's on-demand terms: each term's first tier (the
    lowest beginRange; all of its dimensions if several start there)."""
    out = []
    for term in terms.get("OnDemand", {}).get(sku, {}).values():
        dims = [d for d in term.get("priceDimensions", {}).values() if "USD" in d.get("pricePerUnit", {})]
        if not dims:
            continue
        begin = min(float(d.get("beginRange") or 0) for d in dims)
        for d in dims:
            if float(d.get("beginRange") or 0) == begin:
                out.append((float(d["pricePerUnit"]["USD"]), d.get("unit", "")))
    return out


def classify(offer, family, a, region, peer):
    """(table, key, unit, preference) a product's price belongs to, or None.
    Tables: an instance-class table, or 'rates'. Lower preference wins when
    one rate has rows of several engines (PostgreSQL over Any)."""
    engine = a.get("databaseEngine", "")
    usage = a.get("usagetype", "")
    if a.get("extendedSupportPricingYear") or a.get("deploymentModel"):
        return None
    if a.get("locationType", "AWS Region") != "AWS Region":
        return None

    if offer == TRANSFER[0]:
        if (family == TRANSFER[1] and a.get("transferType") == "InterRegion Outbound"
                and a.get("fromRegionCode") == region and peer is not None
                and a.get("toRegionCode") == peer and usage.endswith(TRANSFER[2])):
            return ("rates", "transfer_inter_region_gb", TRANSFER[3], 0)
        return None

    if offer == "AmazonRDS" and family == "Database Instance":
        m = INSTANCE_USAGE.search(usage)
        cls = a.get("instanceType")
        if not m or not cls:
            return None
        deploy = a.get("deploymentOption", "")
        io_optimized = m.group(2) is not None
        if engine == "Aurora PostgreSQL" and deploy in ("Single-AZ", ""):
            table = "aurora_postgresql_io_optimized" if io_optimized else "aurora_postgresql"
            return (table, cls, INSTANCE_UNIT, 0)
        if engine == "PostgreSQL" and deploy == "Single-AZ" and not io_optimized:
            return ("rds_postgresql", cls, INSTANCE_UNIT, 0)
        return None

    if EXCLUDED_USAGE.search(usage):
        return None
    if offer == "AmazonRDS" and a.get("deploymentOption", "Single-AZ") not in ("Single-AZ", ""):
        return None
    for key, (r_offer, r_family, engines, suffixes, unit) in RATES.items():
        if offer != r_offer or (r_family is not None and family != r_family):
            continue
        if engines is not None and engine not in engines:
            continue
        if any(usage_ends(usage, s) for s in suffixes):
            return ("rates", key, unit, engines.index(engine) if engines else 0)
    return None


def product_region(a):
    return a.get("regionCode") or a.get("fromRegionCode")


def read_offers(paths, regions, peers):
    """Every candidate price per region, table and key, the offers read, the
    latest publication date and notes about files ignored."""
    cands = {r: {t: {} for t in ("rates",) + CLASS_TABLES} for r in regions}
    offers, dates, notes = [], [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            offer = json.load(f)
        code = offer.get("offerCode")
        if code not in OFFERS:
            notes.append(f"{path}: offer {code!r} is not one this script reads ({', '.join(OFFERS)}); ignored")
            continue
        offers.append(code)
        if offer.get("publicationDate"):
            dates.append(offer["publicationDate"][:10])
        terms = offer.get("terms", {})
        for sku, product in offer.get("products", {}).items():
            a = product.get("attributes", {})
            region = product_region(a)
            if region not in cands:
                continue
            where = classify(code, product.get("productFamily", ""), a, region, peers.get(region))
            if where is None:
                continue
            table, key, unit, pref = where
            for usd, got_unit in first_tiers(terms, sku):
                cands[region][table].setdefault(key, []).append(
                    {"usd": usd, "unit": got_unit, "want": unit, "pref": pref, "sku": sku, "path": path})
    return cands, offers, max(dates) if dates else None, notes


def skus(rows):
    """The prices, units and SKUs of candidate rows, for a message."""
    return ", ".join(sorted({f"{r['usd']:g} {r['unit']} (SKU {r['sku']} in {r['path']})" for r in rows}))


def resolve(cands):
    """(prices, problems): one price per region/table/key, or a problem
    (region, key, text) naming the region, the key and the SKUs."""
    prices = {r: {t: {} for t in tables} for r, tables in cands.items()}
    problems = []
    for region, tables in cands.items():
        for table, keys in tables.items():
            for key, rows in sorted(keys.items()):
                name = f"{region}: {key}" if table == "rates" else f"{region}: {table} {key}"
                wrong = [r for r in rows if r["unit"] != r["want"]]
                if wrong:
                    problems.append((region, key,
                                     f"{name}: priced in another unit than {rows[0]['want']}: {skus(wrong)}"))
                    continue
                best = min(r["pref"] for r in rows)
                rows = [r for r in rows if r["pref"] == best]
                zero = [r for r in rows if r["usd"] == 0]
                if zero:
                    problems.append((region, key,
                                     f"{name}: a price of 0 matches (never written as zero): {skus(zero)}"))
                    continue
                n = len({r["usd"] for r in rows})
                if n > 1:
                    problems.append((region, key, f"{name}: {n} distinct prices match: {skus(rows)}"))
                    continue
                usd = rows[0]["usd"]
                if key == "aurora_io_per_million":
                    usd *= 1_000_000  # offer files price one I/O request
                prices[region][table][key] = usd
    return prices, problems


def fmt(x):
    return repr(round(x, 10))


def render(prices, offers, as_of):
    out = [
        "# On-demand list prices used by `pgstack cost` (USD), generated by",
        "# scripts/update-prices.py from AWS Price List offer files. See docs/cost.md.",
        "",
        f"hours_per_month = {HOURS_PER_MONTH}",
    ]
    for region, p in prices.items():
        out += ["", f"[region.{region}]",
                f"source = \"AWS Price List offer files {', '.join(sorted(set(offers)))} (on-demand list prices)\"",
                f"as_of  = \"{as_of}\""]
        for table in CLASS_TABLES:
            out += ["", f"[region.{region}.{table}]"]
            out += [f"\"{cls}\" = {fmt(v)}" for cls, v in sorted(p[table].items())]
        out += ["", f"[region.{region}.rates]"]
        out += [f"{k} = {fmt(p['rates'][k])}" for k in RATE_KEYS]
    return "\n".join(out) + "\n"


def parse_peers(items):
    peers = dict(DEFAULT_PEERS)
    for item in items or []:
        region, sep, peer = item.partition("=")
        if not sep or not region or not peer:
            raise SystemExit(f"update-prices: --peer wants REGION=PEER, not {item!r}")
        peers[region] = peer
    return peers


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", action="append", help="region to write (repeatable)")
    ap.add_argument("--peer", action="append", metavar="REGION=PEER",
                    help="price REGION's inter-region transfer to PEER (repeatable; "
                         "default us-east-1=us-west-2 and us-west-2=us-east-1)")
    ap.add_argument("--as-of", help="date of the prices (default: the offers' latest publicationDate)")
    ap.add_argument("offers", nargs="+", help="AWS Price List bulk offer files (JSON)")
    args = ap.parse_args()
    regions = args.region or ["us-east-1", "us-west-2"]
    peers = parse_peers(args.peer)
    cands, offers, published, notes = read_offers(args.offers, regions, peers)
    for note in notes:
        print(f"update-prices: {note}", file=sys.stderr)
    prices, problems = resolve(cands)
    as_of = args.as_of or published
    missing = []
    for r, p in prices.items():
        for k in RATE_KEYS:
            if k in p["rates"] or (r, k) in {(pr[0], pr[1]) for pr in problems}:
                continue
            if k == "transfer_inter_region_gb" and r not in peers:
                missing.append(f"{r}: {k} (no peer region: give --peer {r}=PEER)")
            elif k == "transfer_inter_region_gb":
                missing.append(f"{r}: {k} (to {peers[r]})")
            else:
                missing.append(f"{r}: {k}")
        missing += [f"{r}: no {t} instance classes" for t in CLASS_TABLES
                    if not p[t] and not cands[r][t]]
    if not as_of:
        missing.append("the date: give --as-of (the offers carry no publicationDate)")
    if missing:
        print("update-prices: not found in the offer files given:\n  " + "\n  ".join(missing), file=sys.stderr)
    if problems:
        print("update-prices: ambiguous or unusable prices:\n  " + "\n  ".join(pr[2] for pr in problems),
              file=sys.stderr)
    if missing or problems:
        return 1
    sys.stdout.write(render(prices, offers, as_of))
    return 0


if __name__ == "__main__":
    sys.exit(main())
