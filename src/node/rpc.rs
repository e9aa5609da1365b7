//! RPC source: an alloy provider over HTTP behind a blocking bridge (its own tokio runtime), with
//! bounded concurrency, retries (backoff with jitter, `Retry-After` honoured) on 429, 5xx,
//! dropped connections, timeouts and truncated responses, a request counter, the persistent
//! cache ([`crate::node::cache`]) in front of every fetch, and a lazy revm [`DatabaseRef`] that
//! reads state at the fork block and remembers what the EVM touched.
//!
//! URLs may carry credentials (userinfo, query keys, path keys): only [`redact_url`]'s form ever
//! appears in logs and errors.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use alloy_json_rpc::{RequestPacket, ResponsePacket, RpcRecv, RpcSend};
use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_provider::{Provider, RootProvider};
use alloy_rpc_client::RpcClient as AlloyRpcClient;
use alloy_rpc_types_eth::{BlockId, BlockNumberOrTag};
use alloy_transport::{TransportError, TransportErrorKind, TransportFut};
use rand::Rng;
use revm::primitives::KECCAK_EMPTY;
use revm::state::{AccountInfo, Bytecode};
use revm::DatabaseRef;
use tokio::sync::Semaphore;

use crate::data::records::{AccountRecord, CodeRecord, StorageRecord};
use crate::error::{Error, Result};
use crate::node::cache::{
    remember_chain_id, remembered_chain_id, CachedAccount, CachedBlock, RpcCache, StateEntries,
};

/// Blocks per `eth_getLogs` request of a lookback.
pub const LOGS_CHUNK_BLOCKS: u64 = 5_000;

/// How requests are retried and bounded.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff delay (doubled each retry, with up to 50% jitter).
    pub base_delay: Duration,
    /// Longest delay between attempts (also caps `Retry-After`).
    pub max_delay: Duration,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Requests in flight at most.
    pub max_concurrency: usize,
    /// Largest response body accepted, bytes (a larger one fails without retry).
    pub max_response_bytes: usize,
    /// Longest time one request may take with all its retries.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            timeout: Duration::from_secs(30),
            max_concurrency: 8,
            max_response_bytes: 64 << 20,
            deadline: Duration::from_secs(300),
        }
    }
}

/// Counts of HTTP requests made.
#[derive(Debug, Default)]
pub struct RequestStats {
    requests: AtomicU64,
    retries: AtomicU64,
}

impl RequestStats {
    /// HTTP requests sent (every attempt counts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Attempts that were retries.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

/// Most characters of a node's text (error message, HTTP body) quoted in an error.
pub const MAX_QUOTED_CHARS: usize = 200;

/// The parts of `url` that may be secret: the URL itself, its userinfo, path segments and query
/// keys and values (raw and percent-decoded).
pub fn url_secrets(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string(), url.trim_end_matches('/').to_string()];
    if let Ok(u) = reqwest::Url::parse(url) {
        out.push(u.to_string());
        out.push(u.username().to_string());
        out.extend(u.password().map(str::to_string));
        out.extend(u.path_segments().into_iter().flatten().map(str::to_string));
        out.extend(u.query().map(str::to_string));
        for (k, v) in u.query_pairs() {
            out.push(k.to_string());
            out.push(v.to_string());
        }
    }
    let decoded: Vec<String> = out.iter().filter_map(|s| percent_decode(s)).collect();
    out.extend(decoded);
    // Longest first, so a whole URL is replaced before its parts; very short parts (`v1`) are
    // not secrets and replacing them would mangle the message.
    out.retain(|s| s.len() >= 4);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `text` from a node, safe to show: every secret of [`url_secrets`] replaced by `***`, and at
/// most [`MAX_QUOTED_CHARS`] characters (the rest is counted, not quoted).
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    let total = out.chars().count();
    if total > MAX_QUOTED_CHARS {
        let mut short: String = out.chars().take(MAX_QUOTED_CHARS).collect();
        short.push_str(&format!("… ({} more characters)", total - MAX_QUOTED_CHARS));
        short
    } else {
        out
    }
}

/// The URL with userinfo, query string and path replaced by `***` (scheme, host, port kept).
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let mut out = format!("{}://", u.scheme());
            if !u.username().is_empty() || u.password().is_some() {
                out.push_str("***@");
            }
            out.push_str(u.host_str().unwrap_or("?"));
            if let Some(port) = u.port() {
                out.push_str(&format!(":{port}"));
            }
            if u.path() != "/" && !u.path().is_empty() {
                out.push_str("/***");
            }
            if u.query().is_some() {
                out.push_str("?***");
            }
            out
        }
        Err(_) => "<unparsable URL>".to_string(),
    }
}

struct Http {
    client: reqwest::Client,
    url: reqwest::Url,
    redacted: String,
    secrets: Vec<String>,
    stats: Arc<RequestStats>,
    limit: Semaphore,
    policy: RetryPolicy,
}

/// alloy transport: JSON-RPC over HTTP with retries and counting.
#[derive(Clone)]
struct RetryingHttp(Arc<Http>);

impl tower::Service<RequestPacket> for RetryingHttp {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RequestPacket) -> Self::Future {
        let http = self.0.clone();
        Box::pin(async move { http.send(request).await })
    }
}

impl Http {
    async fn send(&self, request: RequestPacket) -> Result<ResponsePacket, TransportError> {
        let body = serde_json::to_vec(&request).map_err(TransportError::ser_err)?;
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|_| TransportErrorKind::custom_str("request limiter closed"))?;
        let mut attempt: u32 = 0;
        let started = std::time::Instant::now();
        loop {
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let sent = self
                .client
                .post(self.url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .timeout(self.policy.timeout)
                .send()
                .await;
            let mut retry_after = None;
            let reason = match sent {
                Ok(response) => {
                    let status = response.status();
                    retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    if let Some(len) = response
                        .content_length()
                        .filter(|n| *n > self.policy.max_response_bytes as u64)
                    {
                        return Err(TransportErrorKind::custom_str(&format!(
                            "the response from {} is {len} bytes, more than the {} accepted",
                            self.redacted, self.policy.max_response_bytes
                        )));
                    }
                    if status.is_success() {
                        match read_capped(response, self.policy.max_response_bytes).await {
                            Ok(bytes) => match serde_json::from_slice::<ResponsePacket>(&bytes) {
                                Ok(packet) => match rate_limited(&packet) {
                                    Some(message) => format!(
                                        "rate limited: {}",
                                        redact_text(&message, &self.secrets)
                                    ),
                                    None => return Ok(packet),
                                },
                                Err(e) => format!(
                                    "malformed or truncated response ({} bytes): {}",
                                    bytes.len(),
                                    redact_text(&e.to_string(), &self.secrets)
                                ),
                            },
                            Err(Capped::TooLarge) => {
                                return Err(TransportErrorKind::custom_str(&format!(
                                    "the response from {} is larger than the {} bytes accepted",
                                    self.redacted, self.policy.max_response_bytes
                                )))
                            }
                            Err(Capped::Failed(e)) => format!(
                                "reading the response: {}",
                                redact_text(&e.without_url().to_string(), &self.secrets)
                            ),
                        }
                    } else if status.as_u16() == 429
                        || status.as_u16() == 408
                        || status.is_server_error()
                    {
                        format!("HTTP {status}")
                    } else {
                        let text = read_capped(response, 64 << 10)
                            .await
                            .map(|b| String::from_utf8_lossy(&b).to_string())
                            .unwrap_or_default();
                        return Err(TransportErrorKind::custom_str(&format!(
                            "HTTP {status} from {}: {}",
                            self.redacted,
                            redact_text(&text, &self.secrets)
                        )));
                    }
                }
                Err(e) => redact_text(&e.without_url().to_string(), &self.secrets),
            };
            attempt += 1;
            let out_of_time = started.elapsed() >= self.policy.deadline;
            if attempt > self.policy.max_retries || out_of_time {
                return Err(TransportErrorKind::custom_str(&format!(
                    "{reason} from {} (gave up after {attempt} attempts)",
                    self.redacted
                )));
            }
            let backoff = self
                .policy
                .base_delay
                .saturating_mul(1u32 << (attempt - 1).min(16));
            let jitter = backoff.mul_f64(rand::thread_rng().gen_range(0.0..0.5));
            let delay = retry_after
                .unwrap_or(backoff + jitter)
                .min(self.policy.max_delay)
                .min(self.policy.deadline.saturating_sub(started.elapsed()));
            tracing::warn!(endpoint = %self.redacted, attempt, ?delay, %reason, "retrying RPC request");
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
        }
    }
}

/// Why a capped read stopped.
enum Capped {
    /// The body is larger than the cap.
    TooLarge,
    /// The connection failed.
    Failed(reqwest::Error),
}

/// Reads a response body, refusing one larger than `max` bytes (without holding more).
async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, Capped> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Capped::Failed)? {
        if body.len().saturating_add(chunk.len()) > max {
            return Err(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The message of a JSON-RPC error that means "slow down" (code 429 or -32005, or a message
/// naming a rate limit), which is retried like HTTP 429.
fn rate_limited(packet: &ResponsePacket) -> Option<String> {
    let ResponsePacket::Single(response) = packet else {
        return None;
    };
    let error = response.payload.as_error()?;
    let lower = error.message.to_ascii_lowercase();
    (error.code == 429
        || error.code == -32005
        || lower.contains("rate limit")
        || lower.contains("too many requests"))
    .then(|| error.message.to_string())
}

/// A blocking JSON-RPC client: an alloy provider on its own tokio runtime.
pub struct RpcClient {
    runtime: tokio::runtime::Runtime,
    provider: RootProvider,
    stats: Arc<RequestStats>,
    endpoint: String,
    secrets: Vec<String>,
}

impl RpcClient {
    /// A client for `url` (no request is made here).
    pub fn connect(url: &str, policy: RetryPolicy) -> Result<Self> {
        let endpoint = redact_url(url);
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Error::config("rpc_url", &endpoint, format!("an http(s) URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::config(
                "rpc_url",
                &endpoint,
                "an http:// or https:// URL",
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Rpc {
                method: "connect".into(),
                message: e.without_url().to_string(),
            })?;
        let stats = Arc::new(RequestStats::default());
        let http = RetryingHttp(Arc::new(Http {
            client,
            url: parsed,
            redacted: endpoint.clone(),
            secrets: url_secrets(url),
            stats: stats.clone(),
            limit: Semaphore::new(policy.max_concurrency.max(1)),
            policy,
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the RPC runtime", "tokio", e))?;
        let provider = RootProvider::new(AlloyRpcClient::new(http, false));
        Ok(Self {
            runtime,
            provider,
            stats,
            endpoint,
            secrets: url_secrets(url),
        })
    }

    /// The endpoint, redacted.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Request counters.
    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// `eth_chainId`.
    pub fn chain_id(&self) -> Result<u64> {
        self.runtime
            .block_on(self.provider.get_chain_id())
            .map_err(|e| self.rpc_error("eth_chainId", None, e))
    }

    /// Any JSON-RPC method (e.g. anvil's `anvil_setStorageAt`), blocking.
    pub fn raw<P: RpcSend, R: RpcRecv>(&self, method: &str, params: P) -> Result<R> {
        self.runtime
            .block_on(
                self.provider
                    .raw_request::<P, R>(method.to_string().into(), params),
            )
            .map_err(|e| self.rpc_error(method, None, e))
    }

    /// Blocks with full transactions and receipts, fetched concurrently (bounded by the policy).
    pub fn blocks(&self, numbers: &[u64]) -> Result<Vec<CachedBlock>> {
        let futures = numbers.iter().map(|&n| {
            let provider = self.provider.clone();
            let secrets = self.secrets.clone();
            async move {
                let block = provider
                    .get_block_by_number(BlockNumberOrTag::Number(n))
                    .full()
                    .await
                    .map_err(|e| rpc_error("eth_getBlockByNumber", Some(n), e, &secrets))?
                    .ok_or_else(|| Error::ArchiveNeeded {
                        method: "eth_getBlockByNumber".into(),
                        block: n,
                        message: "block not found".into(),
                    })?;
                let receipts = provider
                    .get_block_receipts(BlockId::number(n))
                    .await
                    .map_err(|e| rpc_error("eth_getBlockReceipts", Some(n), e, &secrets))?
                    .ok_or_else(|| Error::Rpc {
                        method: "eth_getBlockReceipts".into(),
                        message: format!("no receipts for block {n}"),
                    })?;
                Ok::<_, Error>(CachedBlock { block, receipts })
            }
        });
        let handles: Vec<_> = futures.map(|f| self.runtime.spawn(f)).collect();
        self.runtime.block_on(async move {
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await.map_err(|e| Error::Rpc {
                    method: "eth_getBlockByNumber".into(),
                    message: format!("task failed: {e}"),
                })??);
            }
            Ok(out)
        })
    }

    /// An account at `block`: balance, nonce and code (three requests, concurrently).
    pub fn account(&self, address: Address, block: u64) -> Result<(U256, u64, Bytes)> {
        let at = BlockId::number(block);
        self.runtime.block_on(async {
            let (balance, nonce, code) = tokio::join!(
                self.provider
                    .get_balance(address)
                    .block_id(at)
                    .into_future(),
                self.provider
                    .get_transaction_count(address)
                    .block_id(at)
                    .into_future(),
                self.provider
                    .get_code_at(address)
                    .block_id(at)
                    .into_future(),
            );
            Ok((
                balance.map_err(|e| self.rpc_error("eth_getBalance", Some(block), e))?,
                nonce.map_err(|e| self.rpc_error("eth_getTransactionCount", Some(block), e))?,
                code.map_err(|e| self.rpc_error("eth_getCode", Some(block), e))?,
            ))
        })
    }

    /// A storage slot at `block`.
    pub fn storage(&self, address: Address, slot: U256, block: u64) -> Result<U256> {
        self.runtime
            .block_on(
                self.provider
                    .get_storage_at(address, slot)
                    .block_id(BlockId::number(block))
                    .into_future(),
            )
            .map_err(|e| self.rpc_error("eth_getStorageAt", Some(block), e))
    }

    /// Topics of the logs `address` emitted with one of `events` as topic 0, per inclusive block
    /// range of `ranges` (one `eth_getLogs` per range, concurrently, bounded by the policy).
    pub fn logs(
        &self,
        address: Address,
        events: &[B256],
        ranges: &[(u64, u64)],
    ) -> Result<Vec<Vec<Vec<B256>>>> {
        let handles: Vec<_> = ranges
            .iter()
            .map(|&(from, to)| {
                let provider = self.provider.clone();
                let secrets = self.secrets.clone();
                let filter = alloy_rpc_types_eth::Filter::new()
                    .address(address)
                    .event_signature(events.to_vec())
                    .from_block(from)
                    .to_block(to);
                self.runtime.spawn(async move {
                    provider
                        .get_logs(&filter)
                        .await
                        .map(|logs| logs.iter().map(|l| l.topics().to_vec()).collect::<Vec<_>>())
                        .map_err(|e| rpc_error("eth_getLogs", Some(to), e, &secrets))
                })
            })
            .collect();
        self.runtime.block_on(async move {
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await.map_err(|e| Error::Rpc {
                    method: "eth_getLogs".into(),
                    message: format!("task failed: {e}"),
                })??);
            }
            Ok(out)
        })
    }

    /// The hash of block `number`.
    pub fn block_hash(&self, number: u64) -> Result<B256> {
        let block = self
            .runtime
            .block_on(
                self.provider
                    .get_block_by_number(BlockNumberOrTag::Number(number))
                    .into_future(),
            )
            .map_err(|e| self.rpc_error("eth_getBlockByNumber", Some(number), e))?
            .ok_or_else(|| Error::ArchiveNeeded {
                method: "eth_getBlockByNumber".into(),
                block: number,
                message: "block not found".into(),
            })?;
        Ok(block.header.hash)
    }
}

use std::future::IntoFuture;

impl RpcClient {
    /// Maps a transport error to liqsim's error (redacted and truncated); state-unavailable
    /// messages name the archive node.
    fn rpc_error(
        &self,
        method: &str,
        block: Option<u64>,
        e: alloy_json_rpc::RpcError<TransportErrorKind>,
    ) -> Error {
        rpc_error(method, block, e, &self.secrets)
    }
}

fn rpc_error(
    method: &str,
    block: Option<u64>,
    e: alloy_json_rpc::RpcError<TransportErrorKind>,
    secrets: &[String],
) -> Error {
    let message = redact_text(&e.to_string(), secrets);
    let lower = message.to_ascii_lowercase();
    let archive = [
        "missing trie node",
        "header not found",
        "historical state",
        "state not available",
        "state is not available",
        "pruned",
    ]
    .iter()
    .any(|m| lower.contains(m));
    if archive {
        return Error::ArchiveNeeded {
            method: method.to_string(),
            block: block.unwrap_or_default(),
            message,
        };
    }
    Error::Rpc {
        method: method.to_string(),
        message,
    }
}

/// A node behind the persistent cache: the chain id is checked before the first request that the
/// cache cannot serve (and a mismatch refuses to run); the cache's blocks and state are checked
/// against the node's block hashes ([`RpcSource::blocks`]), so a fully cached window costs one
/// request (the hash of its last block).
pub struct RpcSource {
    client: RpcClient,
    url_key: String,
    root: PathBuf,
    cache: RpcCache,
    verified: AtomicBool,
    /// Block hashes known to be the node's (checked this run): number → hash.
    hashes: Mutex<HashMap<u64, B256>>,
}

impl RpcSource {
    /// Opens `url` with the cache under `cache_root`. `expected_chain_id` (e.g. `--chain-id`)
    /// must match the node; without it the chain id remembered for this endpoint is used, else
    /// the node is asked.
    pub fn open(
        url: &str,
        cache_root: &Path,
        expected_chain_id: Option<u64>,
        policy: RetryPolicy,
    ) -> Result<Self> {
        let client = RpcClient::connect(url, policy)?;
        let remembered = remembered_chain_id(cache_root, url);
        let (chain_id, verified) = match (expected_chain_id, remembered) {
            (Some(expected), Some(known)) if expected != known => {
                return Err(Error::ChainMismatch {
                    expected,
                    actual: known,
                    endpoint: client.endpoint().to_string(),
                })
            }
            (Some(expected), Some(_)) => (expected, true),
            (Some(expected), None) => (expected, false),
            (None, Some(known)) => (known, true),
            (None, None) => {
                let actual = client.chain_id()?;
                remember_chain_id(cache_root, url, actual)?;
                (actual, true)
            }
        };
        tracing::info!(endpoint = client.endpoint(), chain_id, "RPC source opened");
        Ok(Self {
            cache: RpcCache::open(cache_root, chain_id)?,
            client,
            url_key: url.to_string(),
            root: cache_root.to_path_buf(),
            verified: AtomicBool::new(verified),
            hashes: Mutex::new(HashMap::new()),
        })
    }

    /// Chain id of the source.
    pub fn chain_id(&self) -> u64 {
        self.cache.chain_id()
    }

    /// The cache.
    pub fn cache(&self) -> &RpcCache {
        &self.cache
    }

    /// The client (with its request counters).
    pub fn client(&self) -> &RpcClient {
        &self.client
    }

    /// The client, once the node's chain id is known to match the cache's.
    fn online(&self) -> Result<&RpcClient> {
        if !self.verified.load(Ordering::Acquire) {
            let actual = self.client.chain_id()?;
            if actual != self.chain_id() {
                return Err(Error::ChainMismatch {
                    expected: self.chain_id(),
                    actual,
                    endpoint: self.client.endpoint().to_string(),
                });
            }
            remember_chain_id(&self.root, &self.url_key, actual)?;
            self.verified.store(true, Ordering::Release);
        }
        Ok(&self.client)
    }

    /// Blocks `from..=to` with full transactions and receipts: from the cache, the rest fetched
    /// (concurrently) and cached.
    ///
    /// The cache is keyed by chain id, which two nodes may share (two forks, a fork and mainnet),
    /// so blocks are cached by number and hash: one request (`eth_getBlockByNumber` of `to`,
    /// header only) gives the node's hash of the last block, and each block below is looked up by
    /// the parent hash its child names (`to`'s hash seals the whole range and, through `from`'s
    /// parent hash, the state block `from - 1`). Blocks of another history (another node with
    /// the same chain id) are never found, so never used; they stay cached beside this node's.
    /// The hashes are remembered for [`RpcDb::new`], which keys the cached state by the state
    /// block's hash.
    pub fn blocks(&self, from: u64, to: u64) -> Result<Vec<CachedBlock>> {
        let client = self.online()?;
        let head = client.block_hash(to)?;
        let mut found: HashMap<u64, CachedBlock> = HashMap::new();
        // from the node's hash of `to` down: each cached block is found by the hash its child names
        let mut expected = head;
        let mut n = to;
        while let Some(block) = self.cache.load_block(n, expected) {
            expected = block.block.header.parent_hash;
            found.insert(n, block);
            if n == from {
                break;
            }
            n -= 1;
        }
        let missing: Vec<u64> = (from..=to).filter(|n| !found.contains_key(n)).collect();
        if !missing.is_empty() {
            tracing::info!(blocks = missing.len(), "fetching blocks and receipts");
            for chunk in missing.chunks(64) {
                for (n, block) in chunk.iter().zip(client.blocks(chunk)?) {
                    self.cache.store_block(&block)?;
                    found.insert(*n, block);
                }
            }
        }
        // the whole range must be one chain ending in the node's `to`
        let mut expected = head;
        for n in (from..=to).rev() {
            let hash = found.get(&n).map(|b| b.block.header.hash);
            if hash != Some(expected) {
                return Err(Error::Rpc {
                    method: "eth_getBlockByNumber".into(),
                    message: format!(
                        "block {n} from the node has hash {} but its child names {expected}: blocks {from}..={to} are not one chain (a reorg while recording?); record a window further from the head, or re-run",
                        hash.map(|h| h.to_string()).unwrap_or_else(|| "none".into())
                    ),
                });
            }
            expected = found
                .get(&n)
                .map(|b| b.block.header.parent_hash)
                .unwrap_or_default();
        }
        {
            let mut hashes = self.hashes.lock().unwrap_or_else(|p| p.into_inner());
            for (number, block) in &found {
                hashes.insert(*number, block.block.header.hash);
            }
            hashes.insert(from - 1, expected);
        }
        (from..=to)
            .map(|n| {
                found.remove(&n).ok_or_else(|| Error::Rpc {
                    method: "eth_getBlockByNumber".into(),
                    message: format!("block {n} missing"),
                })
            })
            .collect()
    }

    /// The node's hash of `block`: the one [`RpcSource::blocks`] checked, else asked (one
    /// `eth_getBlockByNumber`).
    pub fn block_hash(&self, block: u64) -> Result<B256> {
        if let Some(h) = self
            .hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&block)
        {
            return Ok(*h);
        }
        let h = self.online()?.block_hash(block)?;
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(block, h);
        Ok(h)
    }
}

impl RpcSource {
    /// Topics of the logs `address` emitted with one of `events` in blocks `from..=to`, fetched in
    /// chunks of [`LOGS_CHUNK_BLOCKS`] and cached per chunk.
    pub fn pool_logs(
        &self,
        address: Address,
        events: &[B256],
        from: u64,
        to: u64,
    ) -> Result<Vec<Vec<B256>>> {
        let chunk = LOGS_CHUNK_BLOCKS;
        let mut events_key = Vec::new();
        for e in events {
            events_key.extend_from_slice(e.as_slice());
        }
        let tag = hex::encode(&keccak256(&events_key)[..4]);
        let key = |a: u64, b: u64| format!("{address}-{tag}-{a}-{b}");
        let mut ranges = Vec::new();
        let mut start = from;
        while start <= to {
            let end = to.min(start.saturating_add(chunk - 1));
            ranges.push((start, end));
            if end == u64::MAX {
                break;
            }
            start = end + 1;
        }
        let mut found: HashMap<(u64, u64), Vec<Vec<B256>>> = HashMap::new();
        let missing: Vec<(u64, u64)> = ranges
            .iter()
            .copied()
            .filter(|&(a, b)| match self.cache.load_logs(&key(a, b)) {
                Some(t) => {
                    found.insert((a, b), t);
                    false
                }
                None => true,
            })
            .collect();
        if !missing.is_empty() {
            let client = self.online()?;
            tracing::info!(requests = missing.len(), from, to, "fetching logs");
            for group in missing.chunks(32) {
                for (range, topics) in group.iter().zip(client.logs(address, events, group)?) {
                    self.cache.store_logs(&key(range.0, range.1), &topics)?;
                    found.insert(*range, topics);
                }
            }
        }
        Ok(ranges
            .iter()
            .flat_map(|r| found.remove(r).unwrap_or_default())
            .collect())
    }
}

#[derive(Default)]
struct DbState {
    accounts: HashMap<Address, Option<CachedAccount>>,
    storage: HashMap<(Address, U256), U256>,
    code: HashMap<B256, Bytes>,
    block_hashes: HashMap<u64, B256>,
    touched_accounts: BTreeSet<Address>,
    touched_slots: BTreeSet<(Address, U256)>,
    unsaved: usize,
    error: Option<Error>,
}

/// Lazy state at one block from an [`RpcSource`], for revm: every read is served from the cache
/// or fetched and cached; what was read is remembered (see [`RpcDb::prestate`]).
pub struct RpcDb {
    source: Arc<RpcSource>,
    block: u64,
    hash: B256,
    state: Mutex<DbState>,
}

/// New cache entries after which the state file is rewritten.
const FLUSH_EVERY: usize = 2_000;

impl RpcDb {
    /// State at the end of `block` (a window starting at `b` forks at `b - 1`), served from the
    /// state cached under the node's hash of `block` ([`RpcSource::block_hash`]: known after
    /// [`RpcSource::blocks`], else one request): state cached for another history of that block
    /// (another node with the same chain id) is not used.
    pub fn new(source: Arc<RpcSource>, block: u64) -> Result<Self> {
        let hash = source.block_hash(block)?;
        let others = source.cache.other_state_hashes(block, hash);
        if !others.is_empty() {
            tracing::warn!(
                block,
                node_hash = %hash,
                cached_hashes = %others.join(", "),
                "the cache holds state of block {block} for another history (another node with the same chain id); not using it"
            );
        }
        let entries = source.cache.load_state(block, hash);
        let state = DbState {
            accounts: entries.accounts.into_iter().collect(),
            storage: entries
                .storage
                .into_iter()
                .map(|(a, s, v)| ((a, s), v))
                .collect(),
            code: entries.code.into_iter().collect(),
            block_hashes: entries.block_hashes.into_iter().collect(),
            ..DbState::default()
        };
        Ok(Self {
            source,
            block,
            hash,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DbState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first fetch error hit inside the EVM (revm only sees its text).
    pub fn take_error(&self) -> Option<Error> {
        self.lock().error.take()
    }

    /// Writes everything fetched so far to the cache (crash-safe).
    pub fn flush(&self) -> Result<()> {
        let mut state = self.lock();
        if state.unsaved == 0 {
            return Ok(());
        }
        self.save(&state)?;
        state.unsaved = 0;
        Ok(())
    }

    fn save(&self, state: &DbState) -> Result<()> {
        let mut storage: Vec<(Address, U256, U256)> = state
            .storage
            .iter()
            .map(|((a, s), v)| (*a, *s, *v))
            .collect();
        storage.sort();
        let mut block_hashes: Vec<(u64, B256)> =
            state.block_hashes.iter().map(|(n, h)| (*n, *h)).collect();
        block_hashes.sort();
        let entries = StateEntries {
            accounts: state
                .accounts
                .iter()
                .map(|(a, v)| (*a, v.clone()))
                .collect(),
            storage,
            code: state.code.iter().map(|(h, c)| (*h, c.clone())).collect(),
            block_hashes,
        };
        self.source
            .cache
            .store_state(self.block, self.hash, &entries)
    }

    fn added(&self, state: &mut DbState) -> Result<()> {
        state.unsaved += 1;
        if state.unsaved >= FLUSH_EVERY {
            self.save(state)?;
            state.unsaved = 0;
        }
        Ok(())
    }

    fn fail(&self, state: &mut DbState, e: Error) -> Error {
        let text = e.to_string();
        if state.error.is_none() {
            state.error = Some(e);
        }
        Error::Database(text)
    }

    /// The accounts, code and storage the EVM read: a window's pre-state. Accounts read and
    /// found empty are included (no balance, nonce or code), and so are slots read as zero, so a
    /// replay of the recorded window can tell "recorded as empty" from "never recorded" (see
    /// [`crate::evm::state::PrestateDb`]).
    pub fn prestate(&self) -> (Vec<AccountRecord>, Vec<CodeRecord>, Vec<StorageRecord>) {
        let state = self.lock();
        let mut accounts = Vec::new();
        let mut code = std::collections::BTreeMap::new();
        for address in &state.touched_accounts {
            let Some(entry) = state.accounts.get(address) else {
                continue;
            };
            let Some(a) = entry else {
                accounts.push(AccountRecord {
                    address: *address,
                    balance: U256::ZERO,
                    nonce: 0,
                    code_hash: KECCAK_EMPTY,
                });
                continue;
            };
            accounts.push(AccountRecord {
                address: *address,
                balance: a.balance,
                nonce: a.nonce,
                code_hash: a.code_hash,
            });
            if a.code_hash != KECCAK_EMPTY {
                if let Some(c) = state.code.get(&a.code_hash) {
                    code.insert(
                        a.code_hash,
                        CodeRecord {
                            code_hash: a.code_hash,
                            code: c.clone(),
                        },
                    );
                }
            }
        }
        let storage = state
            .touched_slots
            .iter()
            .filter_map(|key| {
                let value = state.storage.get(key)?;
                Some(StorageRecord {
                    address: key.0,
                    slot: key.1,
                    value: *value,
                })
            })
            .collect();
        (accounts, code.into_values().collect(), storage)
    }
}

impl DatabaseRef for RpcDb {
    type Error = Error;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>> {
        let mut state = self.lock();
        state.touched_accounts.insert(address);
        let cached = match state.accounts.get(&address) {
            Some(entry) => entry.clone(),
            None => {
                let fetched = self
                    .source
                    .online()
                    .and_then(|c| c.account(address, self.block));
                let (balance, nonce, code) = match fetched {
                    Ok(v) => v,
                    Err(e) => return Err(self.fail(&mut state, e)),
                };
                let entry = if balance.is_zero() && nonce == 0 && code.is_empty() {
                    None
                } else {
                    let code_hash = if code.is_empty() {
                        KECCAK_EMPTY
                    } else {
                        keccak256(&code)
                    };
                    if !code.is_empty() {
                        state.code.insert(code_hash, code);
                    }
                    Some(CachedAccount {
                        balance,
                        nonce,
                        code_hash,
                    })
                };
                state.accounts.insert(address, entry.clone());
                if let Err(e) = self.added(&mut state) {
                    return Err(self.fail(&mut state, e));
                }
                entry
            }
        };
        Ok(cached.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            code: state
                .code
                .get(&a.code_hash)
                .map(|c| Bytecode::new_raw(c.clone())),
            ..AccountInfo::default()
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        let mut state = self.lock();
        match state.code.get(&code_hash) {
            Some(c) => Ok(Bytecode::new_raw(c.clone())),
            None => {
                let e = Error::Database(format!("code {code_hash} was never fetched"));
                Err(self.fail(&mut state, e))
            }
        }
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256> {
        let mut state = self.lock();
        state.touched_slots.insert((address, index));
        if let Some(v) = state.storage.get(&(address, index)) {
            return Ok(*v);
        }
        let fetched = self
            .source
            .online()
            .and_then(|c| c.storage(address, index, self.block));
        match fetched {
            Ok(v) => {
                state.storage.insert((address, index), v);
                if let Err(e) = self.added(&mut state) {
                    return Err(self.fail(&mut state, e));
                }
                Ok(v)
            }
            Err(e) => Err(self.fail(&mut state, e)),
        }
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256> {
        let mut state = self.lock();
        if let Some(h) = state.block_hashes.get(&number) {
            return Ok(*h);
        }
        match self.source.online().and_then(|c| c.block_hash(number)) {
            Ok(h) => {
                state.block_hashes.insert(number, h);
                if let Err(e) = self.added(&mut state) {
                    return Err(self.fail(&mut state, e));
                }
                Ok(h)
            }
            Err(e) => Err(self.fail(&mut state, e)),
        }
    }
}

impl Drop for RpcDb {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "could not save the RPC state cache");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_credentials() {
        let r = redact_url("https://user:secret@node.example:8545/v2/abcdefKEY?key=SECRET2");
        assert_eq!(r, "https://***@node.example:8545/***?***");
        assert!(!r.contains("secret") && !r.contains("KEY") && !r.contains("SECRET2"));
        assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(redact_url("not a url"), "<unparsable URL>");
    }
}
