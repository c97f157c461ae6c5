//! A small HTTP/1.1 load generator: keep-alive connections, each running a script of requests in a
//! loop until the deadline, recording every request's latency.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// xorshift64*: fast, seedable, good enough for picking targets.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Builds one request's bytes.
pub fn request(method: &str, path: &str, host: &str, token: Option<&str>, body: Option<&str>) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n");
    if let Some(t) = token {
        r.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    match body {
        Some(b) => r.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}", b.len())),
        None => r.push_str("\r\n"),
    }
    r.into_bytes()
}

/// A keep-alive connection that sends a request and reads one response.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// One response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::with_capacity(8192) })
    }

    pub async fn send(&mut self, req: &[u8]) -> std::io::Result<Response> {
        self.stream.write_all(req).await?;
        self.buf.clear();
        let header_end = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                break pos + 4;
            }
            self.read_more().await?;
        };
        let head = std::str::from_utf8(&self.buf[..header_end]).map_err(|_| bad("non-UTF-8 headers"))?;
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status"))?;
        let lower = head.to_ascii_lowercase();
        if lower.contains("transfer-encoding: chunked") {
            return Err(bad("chunked responses are not expected"));
        }
        let length: usize = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(Ok(0), |v| v.trim().parse())
            .map_err(|_| bad("bad content-length"))?;
        while self.buf.len() < header_end + length {
            self.read_more().await?;
        }
        Ok(Response { status, body: self.buf[header_end..header_end + length].to_vec() })
    }

    async fn read_more(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// What a run measured.
#[derive(Default)]
pub struct Outcome {
    pub latencies_us: Vec<u32>,
    /// Scripts completed (a W4 iteration is two requests, one script).
    pub scripts: u64,
    pub errors: u64,
    pub error_samples: Vec<String>,
    pub elapsed: Duration,
    /// Per request, the script's label for it (W3 marks expected LRU misses).
    pub tagged: Vec<(u8, u32)>,
}

impl Outcome {
    pub fn requests(&self) -> usize {
        self.latencies_us.len()
    }
    pub fn per_second(&self, n: f64) -> f64 {
        n / self.elapsed.as_secs_f64()
    }
    pub fn rps(&self) -> f64 {
        self.per_second(self.requests() as f64)
    }
}

/// Percentile (0–100) of a sorted slice, in milliseconds.
pub fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

/// One step of a script: the request and a tag recorded with its latency.
pub struct Step {
    pub bytes: Vec<u8>,
    pub tag: u8,
}

/// Produces the next script for connection `conn` on its `iteration`.
pub type ScriptFn = dyn Fn(usize, u64, &mut Rng) -> Vec<Step> + Send + Sync;

/// Runs `concurrency` connections for `warmup` (discarded) then `duration`.
pub async fn run(
    addr: SocketAddr,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    script: Arc<ScriptFn>,
) -> Outcome {
    let start = Instant::now();
    let measure_from = start + warmup;
    let deadline = measure_from + duration;
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let script = Arc::clone(&script);
        tasks.push(tokio::spawn(async move {
            let mut out = Outcome::default();
            let mut rng = Rng::new(c as u64 + 1);
            let mut conn = match Conn::open(addr).await {
                Ok(conn) => conn,
                Err(e) => {
                    out.errors += 1;
                    out.error_samples.push(format!("connect: {e}"));
                    return out;
                }
            };
            let mut iteration = 0u64;
            while Instant::now() < deadline {
                let steps = script(c, iteration, &mut rng);
                iteration += 1;
                let measuring = Instant::now() >= measure_from;
                let mut ok = true;
                for step in steps {
                    let t = Instant::now();
                    let result = conn.send(&step.bytes).await;
                    let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    match result {
                        Ok(res) if (200..300).contains(&res.status) => {
                            if measuring {
                                out.latencies_us.push(us);
                                out.tagged.push((step.tag, us));
                            }
                        }
                        Ok(res) => {
                            ok = false;
                            if measuring {
                                out.errors += 1;
                                if out.error_samples.len() < 3 {
                                    out.error_samples.push(format!(
                                        "{} {}",
                                        res.status,
                                        String::from_utf8_lossy(&res.body)
                                    ));
                                }
                            }
                            break;
                        }
                        Err(e) => {
                            out.errors += 1;
                            out.error_samples.push(format!("io: {e}"));
                            match Conn::open(addr).await {
                                Ok(c) => conn = c,
                                Err(_) => return out,
                            }
                            ok = false;
                            break;
                        }
                    }
                }
                if ok && measuring {
                    out.scripts += 1;
                }
            }
            out
        }));
    }
    let mut total = Outcome::default();
    for t in tasks {
        let o = t.await.expect("load task");
        total.latencies_us.extend(o.latencies_us);
        total.tagged.extend(o.tagged);
        total.scripts += o.scripts;
        total.errors += o.errors;
        total.error_samples.extend(o.error_samples.into_iter().take(3));
    }
    total.elapsed = duration;
    total.latencies_us.sort_unstable();
    total
}
