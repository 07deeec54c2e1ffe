//! HTTP/1.1 keep-alive load generator for agentnet's benchmarks.
//!
//! Closed loop (`--rate 0`): each of `--connections` sends its next request as soon as
//! the previous one completes, for saturation throughput. Fixed rate (`--rate R`):
//! request i is due at `start + i/R`; latency is measured from that due time, so a
//! stalled proxy is charged for the requests it delayed (coordinated omission), and
//! the service time (send to last byte) is reported beside it. Every run is bounded by
//! `--duration` and `--requests`, and connects only to loopback addresses and the capture benchmark's veth network.
//!
//! One OS thread per connection, each with its own single-threaded runtime, so due
//! times are kept with `thread::sleep` (sub-millisecond) rather than tokio's 1 ms timer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

use agentnet_bench::Scenario;

#[derive(Parser, Debug, Clone)]
#[command(about = "HTTP/1.1 keep-alive load generator (closed loop or fixed rate)")]
struct Args {
    /// URL the requests name, e.g. http://mcp-bench.bench.svc:8080/mcp.
    #[arg(long)]
    target: hyper::Uri,
    /// Address to connect to: the server itself, or the proxy with --proxy.
    #[arg(long)]
    connect: SocketAddr,
    /// Send absolute-form requests, as HTTP_PROXY clients do.
    #[arg(long)]
    proxy: bool,
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Requests per second; 0 means closed loop.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Measured run length (after warm-up).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up before the run.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Upper bound on requests sent, warm-up included.
    #[arg(long, default_value_t = 2_000_000)]
    requests: u64,
}

/// What one connection measured.
struct Tally {
    latency: Histogram<u64>,
    service: Histogram<u64>,
    ok: u64,
    errors: u64,
}

struct Plan {
    args: Args,
    body: Bytes,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    tickets: AtomicU64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !agentnet_bench::is_bench_address(args.connect.ip()) {
        bail!(
            "--connect must be a loopback address or in the capture benchmark's veth network (benchmarks stay on this machine)"
        );
    }
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let start = Instant::now() + Duration::from_millis(50);
    let plan = Arc::new(Plan {
        body: Bytes::from(args.scenario.body()),
        measure_from: start + args.warmup,
        end: start + args.warmup + args.duration,
        start,
        tickets: AtomicU64::new(0),
        args,
    });
    let workers: Vec<_> = (0..plan.args.connections)
        .map(|_| {
            let plan = plan.clone();
            std::thread::spawn(move || worker(&plan))
        })
        .collect();
    let mut total = new_tally()?;
    for w in workers {
        let t = w.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        total.latency.add(&t.latency)?;
        total.service.add(&t.service)?;
        total.ok += t.ok;
        total.errors += t.errors;
    }
    println!("{}", report(&plan.args, &total));
    Ok(())
}

fn new_tally() -> Result<Tally> {
    Ok(Tally {
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        service: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        ok: 0,
        errors: 0,
    })
}

fn worker(plan: &Plan) -> Result<Tally> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut tally = new_tally()?;
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    while let Some(due) = next_due(plan) {
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let sent = Instant::now();
        let ok = rt.block_on(send_one(plan, &mut conn)).unwrap_or(false);
        let done = Instant::now();
        if sent < plan.measure_from {
            continue;
        }
        if ok {
            tally.ok += 1;
            // Fixed rate charges the wait for a late start; closed loop has no due time.
            tally
                .latency
                .saturating_record(micros(done - due.min(sent)));
            tally.service.saturating_record(micros(done - sent));
        } else {
            tally.errors += 1;
        }
    }
    Ok(tally)
}

/// The due time of the next request, or `None` when the run is over.
fn next_due(plan: &Plan) -> Option<Instant> {
    let i = plan.tickets.fetch_add(1, Ordering::Relaxed);
    if i >= plan.args.requests {
        return None;
    }
    let due = if plan.args.rate == 0 {
        Instant::now().max(plan.start)
    } else {
        plan.start + Duration::from_secs_f64(i as f64 / plan.args.rate as f64)
    };
    (due < plan.end).then_some(due)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

async fn send_one(plan: &Plan, conn: &mut Option<SendRequest<Full<Bytes>>>) -> Result<bool> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = Some(connect(plan.args.connect).await?);
    }
    let Some(sender) = conn.as_mut() else {
        bail!("no connection");
    };
    sender.ready().await?;
    let resp = sender.send_request(request(plan)?).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let has_error = memchr_find(&body, b"\"error\"");
    Ok(status == 200 && has_error == plan.args.scenario.expects_error())
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await.context("connecting")?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

fn request(plan: &Plan) -> Result<Request<Full<Bytes>>> {
    let target = &plan.args.target;
    let uri = if plan.args.proxy {
        target.to_string()
    } else {
        target
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "/".into())
    };
    let host = target
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_default();
    Ok(Request::post(uri)
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, plan.args.scenario.accept())
        .body(Full::new(plan.body.clone()))?)
}

fn report(args: &Args, t: &Tally) -> serde_json::Value {
    let q = |h: &Histogram<u64>| {
        json!({"p50": h.value_at_quantile(0.50), "p90": h.value_at_quantile(0.90),
            "p99": h.value_at_quantile(0.99), "max": h.max()})
    };
    json!({
        "scenario": format!("{:?}", args.scenario), "connections": args.connections, "rate": args.rate,
        "duration_s": args.duration.as_secs_f64(), "ok": t.ok, "errors": t.errors,
        "throughput_rps": t.ok as f64 / args.duration.as_secs_f64(),
        "latency_us": q(&t.latency), "service_us": q(&t.service),
    })
}
