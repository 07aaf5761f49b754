//! The one integration test binary (the AWS SDK makes every test binary
//! expensive to link). Modules that talk to AWS use the moto harness in
//! `support::moto`.

mod support;
mod moto_smoke;
mod providers_kms_rds;
mod validate;
mod cli_moto;
mod providers_ec2;
mod providers_params;
mod stacks;
mod providers_aurora;
mod faults;
mod providers_rds;
