//! A connection the pod's capture rules redirected to the outbound listener: where it
//! was going (`SO_ORIGINAL_DST` / `IP6T_SO_ORIGINAL_DST`), and what it speaks, told from
//! its first bytes without consuming them (HTTP/1.x, HTTP/2 with prior knowledge, TLS
//! with the ClientHello's SNI, or anything else).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::SockRef;
use tokio::net::TcpStream;

/// How long a client may take to send enough bytes to tell its protocol. A client that
/// waits for the server to speak first (SSH, SMTP, databases) is opaque after this.
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The most a detection reads ahead: a ClientHello with post-quantum key shares fits.
const PEEK_LIMIT: usize = 16 * 1024;

/// What a connection speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
    Tls { sni: Option<String> },
    Opaque,
}

/// The connection's original destination, when the capture rules redirected it; `None`
/// when it was made to the listener itself (`HTTP_PROXY`, `/backends/`).
pub fn original_destination(stream: &TcpStream) -> Option<SocketAddr> {
    let local = stream.local_addr().ok()?;
    let sock = SockRef::from(stream);
    let original = match local {
        SocketAddr::V4(_) => sock.original_dst_v4(),
        SocketAddr::V6(_) => sock.original_dst_v6(),
    };
    // Without conntrack state (no NAT happened) there is no original destination.
    let original = original.ok()?.as_socket()?;
    (original != local).then_some(original)
}

/// Peeks at the first bytes until they tell the protocol, or the timeout passes.
pub async fn detect(stream: &TcpStream, timeout: Duration) -> io::Result<Protocol> {
    let mut buf = vec![0u8; PEEK_LIMIT];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let peeked = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(n) => n?,
            Err(_) => return Ok(Protocol::Opaque),
        };
        if peeked == 0 {
            return Ok(Protocol::Opaque);
        }
        if let Some(protocol) = classify(&buf[..peeked], peeked == buf.len()) {
            return Ok(protocol);
        }
        // More bytes are needed and on their way; `peek` returns at once while any are
        // buffered, so wait a little before looking again.
        if tokio::time::Instant::now() >= deadline {
            return Ok(classify(&buf[..peeked], true).unwrap_or(Protocol::Opaque));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"HEAD ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
];

/// The protocol of `bytes`, or `None` when more are needed (`complete`: no more come).
pub fn classify(bytes: &[u8], complete: bool) -> Option<Protocol> {
    let undecided = |prefixes: &[&[u8]]| {
        prefixes
            .iter()
            .any(|p| p.len() > bytes.len() && p.starts_with(bytes))
    };
    if bytes.starts_with(H2_PREFACE) {
        return Some(Protocol::Http2);
    }
    if METHODS.iter().any(|m| bytes.starts_with(m)) {
        return Some(Protocol::Http1);
    }
    if bytes.first() == Some(&0x16) {
        return match tls_record(bytes) {
            Some(record) => Some(Protocol::Tls {
                sni: client_hello_sni(record),
            }),
            None if complete => Some(Protocol::Tls { sni: None }),
            None => None,
        };
    }
    if !complete && (undecided(&[H2_PREFACE]) || undecided(METHODS)) {
        return None;
    }
    Some(Protocol::Opaque)
}

/// The first TLS record when it is whole: type 22 (handshake), version 3.x.
fn tls_record(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() < 5 || bytes[1] != 3 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
    bytes.get(..5 + len)
}

/// The server name a ClientHello asks for, read by rustls's own parser.
fn client_hello_sni(record: &[u8]) -> Option<String> {
    let mut acceptor = rustls::server::Acceptor::default();
    acceptor.read_tls(&mut &record[..]).ok()?;
    let accepted = acceptor.accept().ok()??;
    accepted.client_hello().server_name().map(str::to_owned)
}

#[cfg(test)]
mod tests;
