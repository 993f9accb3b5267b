//! `dynamo-imagekit`: the HEALTHCHECK probe and host facts (see `lib.rs`).

use std::env;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    imagekit::run(&args)
}
