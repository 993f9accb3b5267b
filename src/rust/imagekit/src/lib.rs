//! The native half of the image toolkit, as a library: `src/main.rs` is a thin binary over
//! [`run`], so that sccache can cache this crate's compile (a binary's rustc call links,
//! which sccache cannot cache).
//!
//! `dynamo-imagekit` commands:
//!
//! * `probe [URL] [--timeout SECS]`: Docker HEALTHCHECK probe. One HTTP/1.1 GET, no Python
//!   start-up, exit 0 when healthy and 1 otherwise (Docker reserves 2).
//! * `facts`: what the host gives the container (GPUs, driver, CUDA), as one JSON object.
//!   The Python package (`python -m dynamo_imagekit report`) adds package versions to it.
//!
//! std only: crates.io is unreachable from the build machines and the probe must stay small.

use std::env;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const DEFAULT_URL: &str = "http://127.0.0.1:8000/health";
const USAGE: &str = "usage: dynamo-imagekit probe [URL] [--timeout SECS]
       dynamo-imagekit facts [--root DIR]
URL defaults to $DYNAMO_HEALTH_URL, else http://127.0.0.1:8000/health";

/// Runs `dynamo-imagekit` with its arguments (without the program name).
pub fn run(args: &[String]) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("probe") => probe_command(&args[1..]),
        Some("facts") => match &args[1..] {
            [] => print_facts(Path::new("/")),
            // --root: read the facts from another tree (a chroot, or a test fixture).
            [flag, root] if flag == "--root" => print_facts(Path::new(root)),
            _ => usage_error("facts takes no arguments but --root DIR"),
        },
        Some("--version") => {
            println!("dynamo-imagekit {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(1)
        }
    }
}

fn print_facts(root: &Path) -> ExitCode {
    println!("{}", facts_json(root));
    ExitCode::SUCCESS
}

fn probe_command(args: &[String]) -> ExitCode {
    let mut url = env::var("DYNAMO_HEALTH_URL").unwrap_or_else(|_| DEFAULT_URL.to_string());
    let mut timeout = Duration::from_secs(3);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--timeout" {
            match rest.next().and_then(|s| s.parse::<f64>().ok()) {
                Some(secs) if secs > 0.0 => timeout = Duration::from_secs_f64(secs),
                _ => return usage_error("--timeout needs a positive number of seconds"),
            }
        } else if arg.starts_with("--") {
            return usage_error(&format!("unknown option {arg}"));
        } else {
            url = arg.clone();
        }
    }
    match probe(&url, timeout) {
        Ok(report) => {
            println!("healthy: {report}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("unhealthy: {reason}");
            ExitCode::from(1)
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("dynamo-imagekit: {message}\n{USAGE}");
    ExitCode::from(1)
}

/// `http://host[:port][/path]` split into (host, port, path).
fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL (the probe speaks plain HTTP)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("bad port in {url:?}"))?),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    Ok((host.to_string(), port, path.to_string()))
}

fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let (host, port, path) = parse_url(url)?;
    let started = Instant::now();
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {host}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: dynamo-imagekit\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("sending request: {e}"))?;
    let mut response = Vec::new();
    // Bodies of health endpoints are small; cap what we read.
    stream
        .take(1 << 20)
        .read_to_end(&mut response)
        .map_err(|e| format!("reading response from {url}: {e}"))?;
    let elapsed_ms = started.elapsed().as_millis();
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or("");
    let code: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP status line from {url}"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    if !(200..300).contains(&code) {
        return Err(format!("HTTP {code} from {url} in {elapsed_ms} ms"));
    }
    if let Some(status) = json_string_field(body, "status") {
        let status = status.to_ascii_lowercase();
        if status != "healthy" && status != "ready" && status != "ok" && status != "live" {
            return Err(format!("status {status:?} from {url} in {elapsed_ms} ms"));
        }
    }
    Ok(format!("HTTP {code} from {url} in {elapsed_ms} ms"))
}

/// The string value of `"key": "value"` in a flat JSON text; enough for health bodies.
fn json_string_field(body: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let after_key = &body[body.find(&needle)? + needle.len()..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let value = after_colon.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_string())
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_opt(value: Option<String>) -> String {
    value.map(|v| json_escape(&v)).unwrap_or_else(|| "null".to_string())
}

/// Host facts relative to `root` (tests point it at a fake tree).
fn facts_json(root: &Path) -> String {
    let at = |p: &str| root.join(p.trim_start_matches('/'));
    let gpus = fs::read_dir(at("/dev"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_prefix("nvidia")
                        .map_or(false, |n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                })
                .count()
        })
        .unwrap_or(0);
    // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.95.05  ..." → "580.95.05"
    let driver = fs::read_to_string(at("/proc/driver/nvidia/version")).ok().and_then(|text| {
        let line = text.lines().next()?.to_string();
        let after = line.split("Kernel Module").nth(1)?;
        after.split_whitespace().next().map(str::to_string)
    });
    let cuda_version = env::var("CUDA_VERSION").ok().or_else(|| {
        let text = fs::read_to_string(at("/usr/local/cuda/version.json")).ok()?;
        let cuda = &text[text.find("\"cuda\"")?..];
        json_string_field(cuda, "version")
    });
    let libcuda = find_library(root, "libcuda.so.1");
    format!(
        "{{\"arch\": {}, \"gpu\": {{\"devices\": {gpus}, \"driver\": {}}}, \
         \"cuda\": {{\"version\": {}, \"libcuda\": {}}}}}",
        json_escape(env::consts::ARCH),
        json_opt(driver),
        json_opt(cuda_version),
        json_opt(libcuda),
    )
}

fn find_library(root: &Path, name: &str) -> Option<String> {
    let mut dirs: Vec<String> = env::var("LD_LIBRARY_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect();
    let multiarch = format!("/usr/lib/{}-linux-gnu", env::consts::ARCH);
    dirs.extend(
        [multiarch.as_str(), "/usr/lib64", "/usr/local/nvidia/lib64", "/usr/local/cuda/lib64"]
            .map(str::to_string),
    );
    dirs.iter()
        .map(|d| format!("{}/{name}", d.trim_end_matches('/')))
        .find(|p| root.join(p.trim_start_matches('/')).exists())
}
