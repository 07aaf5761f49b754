#!/usr/bin/env python3
"""Regenerate data/prices.toml from AWS Price List bulk offer files.

Usage:
  scripts/update-prices.py [--region us-east-1 ...] [--as-of YYYY-MM-DD] OFFER.json ... > data/prices.toml

OFFER files are the bulk JSON offer files of AmazonRDS, AmazonS3, awskms,
AWSSecretsManager, AmazonVPC, AmazonCloudWatch and AWSDataTransfer
(https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/<offer>/current/<region>/index.json).
The script reads only the files given (no network). Regions default to
us-east-1 and us-west-2; every rate pgstack needs must be found for every
region, or the script names what is missing and exits 1 (a price is never
written as zero by default). Only on-demand terms are read; for tiered
prices the first tier (from 0) is taken.
"""

import argparse
import json
import sys

HOURS_PER_MONTH = 730

RATE_KEYS = [
    "aurora_storage_gb_month", "aurora_io_optimized_storage_gb_month", "aurora_io_per_million",
    "aurora_backup_gb_month", "rds_gp2_gb_month", "rds_gp3_gb_month", "rds_gp3_iops_month",
    "rds_gp3_mbps_month", "rds_io1_gb_month", "rds_io1_iops_month", "rds_io2_gb_month",
    "rds_io2_iops_month", "rds_backup_gb_month", "s3_standard_gb_month", "s3_standard_ia_gb_month",
    "s3_glacier_gb_month", "s3_deep_archive_gb_month", "transfer_inter_region_gb", "kms_key_month",
    "secret_month", "interface_endpoint_az_hour", "alarm_month",
]

S3_CLASSES = {
    "Standard": "s3_standard_gb_month",
    "Standard - Infrequent Access": "s3_standard_ia_gb_month",
    "Amazon Glacier": "s3_glacier_gb_month",
    "Glacier Deep Archive": "s3_deep_archive_gb_month",
}

RDS_VOLUMES = {
    "General Purpose": "rds_gp2_gb_month",
    "General Purpose-GP3": "rds_gp3_gb_month",
    "Provisioned IOPS": "rds_io1_gb_month",
    "Provisioned IOPS-IO2": "rds_io2_gb_month",
}


def first_tier_usd(terms, sku):
    """The on-demand USD price of a SKU's first tier, or None."""
    for term in terms.get("OnDemand", {}).get(sku, {}).values():
        dims = sorted(term.get("priceDimensions", {}).values(), key=lambda d: float(d.get("beginRange", "0") or 0))
        for d in dims:
            usd = d.get("pricePerUnit", {}).get("USD")
            if usd is not None:
                return float(usd)
    return None


def classify(family, a):
    """(table, key) a product's price belongs to, or None. Tables: a class
    table name, or 'rates'."""
    engine = a.get("databaseEngine", "")
    usage = a.get("usagetype", "")
    deploy = a.get("deploymentOption", "")
    if family == "Database Instance" and deploy in ("Single-AZ", ""):
        cls = a.get("instanceType")
        if engine == "Aurora PostgreSQL":
            return ("aurora_postgresql_io_optimized" if "IOOptimized" in usage else "aurora_postgresql", cls)
        if engine == "PostgreSQL" and deploy == "Single-AZ":
            return ("rds_postgresql", cls)
    if family == "Database Storage":
        vol = a.get("volumeType", "")
        if engine == "Aurora PostgreSQL" and vol == "General Purpose-Aurora":
            return ("rates", "aurora_storage_gb_month")
        if engine == "Aurora PostgreSQL" and vol == "IO Optimized-Aurora":
            return ("rates", "aurora_io_optimized_storage_gb_month")
        if engine == "PostgreSQL" and deploy == "Single-AZ" and vol in RDS_VOLUMES:
            return ("rates", RDS_VOLUMES[vol])
    if family == "System Operation" and engine == "Aurora PostgreSQL" and a.get("group") == "Aurora I/O Operation":
        return ("rates", "aurora_io_per_million")
    if family == "Provisioned IOPS" and engine == "PostgreSQL" and deploy == "Single-AZ":
        if "GP3" in usage:
            return ("rates", "rds_gp3_iops_month")
        return ("rates", "rds_io2_iops_month" if "IO2" in usage else "rds_io1_iops_month")
    if family == "Provisioned Throughput" and engine == "PostgreSQL" and deploy == "Single-AZ":
        return ("rates", "rds_gp3_mbps_month")
    if family == "Storage Snapshot":
        if engine == "Aurora PostgreSQL":
            return ("rates", "aurora_backup_gb_month")
        if engine == "PostgreSQL":
            return ("rates", "rds_backup_gb_month")
    if family == "Storage" and a.get("volumeType") in S3_CLASSES:
        return ("rates", S3_CLASSES[a["volumeType"]])
    if family == "Data Transfer" and a.get("transferType") == "InterRegion Outbound":
        return ("rates", "transfer_inter_region_gb")
    if family == "Encryption Key":
        return ("rates", "kms_key_month")
    if family == "Secret":
        return ("rates", "secret_month")
    if family == "VpcEndpoint" and "VpcEndpoint-Hours" in usage:
        return ("rates", "interface_endpoint_az_hour")
    if family == "Alarm" and a.get("alarmType", "Standard") == "Standard":
        return ("rates", "alarm_month")
    return None


def product_region(a):
    return a.get("regionCode") or a.get("fromRegionCode")


def read_offers(paths, regions):
    prices = {r: {"rates": {}, "aurora_postgresql": {}, "aurora_postgresql_io_optimized": {}, "rds_postgresql": {}}
              for r in regions}
    offers, dates = [], []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            offer = json.load(f)
        offers.append(offer.get("offerCode", path))
        if offer.get("publicationDate"):
            dates.append(offer["publicationDate"][:10])
        terms = offer.get("terms", {})
        for sku, product in offer.get("products", {}).items():
            a = product.get("attributes", {})
            region = product_region(a)
            if region not in prices:
                continue
            where = classify(product.get("productFamily", ""), a)
            if where is None or where[1] is None:
                continue
            usd = first_tier_usd(terms, sku)
            if usd is None:
                continue
            table, key = where
            if key == "aurora_io_per_million":
                usd *= 1_000_000  # offer files price one I/O request
            prices[region][table].setdefault(key, usd)
    return prices, offers, max(dates) if dates else None


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
        for table in ("aurora_postgresql", "aurora_postgresql_io_optimized", "rds_postgresql"):
            out += ["", f"[region.{region}.{table}]"]
            out += [f"\"{cls}\" = {fmt(v)}" for cls, v in sorted(p[table].items())]
        out += ["", f"[region.{region}.rates]"]
        out += [f"{k} = {fmt(p['rates'][k])}" for k in RATE_KEYS]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--region", action="append", help="region to write (repeatable)")
    ap.add_argument("--as-of", help="date of the prices (default: the offers' latest publicationDate)")
    ap.add_argument("offers", nargs="+", help="AWS Price List bulk offer files (JSON)")
    args = ap.parse_args()
    regions = args.region or ["us-east-1", "us-west-2"]
    prices, offers, published = read_offers(args.offers, regions)
    as_of = args.as_of or published
    missing = [f"{r}: {k}" for r, p in prices.items() for k in RATE_KEYS if k not in p["rates"]]
    missing += [f"{r}: no {t} instance classes" for r, p in prices.items()
                for t in ("aurora_postgresql", "rds_postgresql") if not p[t]]
    if not as_of:
        missing.append("the date: give --as-of (the offers carry no publicationDate)")
    if missing:
        print("update-prices: not found in the offer files given:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    sys.stdout.write(render(prices, offers, as_of))
    return 0


if __name__ == "__main__":
    sys.exit(main())
