//! The one integration test binary (the AWS SDK makes every test binary
//! expensive to link). Modules that talk to AWS use the moto harness in
//! `support::moto`.

mod apply_contract;
mod check;
mod ci_examples;
mod cli_edges;
mod cli_moto;
mod consistency;
mod cost;
mod create_before_destroy;
mod drift_teams;
mod faults;
mod import_estate;
mod moto_smoke;
mod providers_alarms;
mod providers_aurora;
mod providers_ec2;
mod providers_iam;
mod providers_kms_rds;
mod providers_kms_replica;
mod providers_monitoring;
mod providers_params;
mod providers_proxy;
mod providers_rds;
mod providers_s3;
mod providers_secrets;
mod providers_vpc_endpoint;
mod rds_behaviours;
mod real_aws_limits;
mod refusals;
mod safety;
mod safety_round2;
mod stacks;
mod state_s3;
mod support;
mod validate;
