//! Body types of the data path: one boxed response body, and a bounded collector
//! for request bodies the sidecar must read whole before deciding.

use bytes::Bytes;
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, LengthLimitError, Limited};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every response the proxy writes, whether built here or streamed from upstream.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("reading the body failed: {0}")]
    Read(BoxError),
}

pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Streams any body through unchanged, frame by frame.
pub fn stream<B>(body: B) -> ProxyBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// Reads a whole body, failing as soon as it passes `limit` bytes (a declared
/// Content-Length over the limit fails before anything is read).
pub async fn collect<B>(body: B, limit: usize) -> Result<Bytes, ReadError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(ReadError::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(ReadError::TooLarge { limit }),
        Err(e) => Err(ReadError::Read(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collects_up_to_the_limit_and_no_further() {
        assert_eq!(
            collect(Full::new(Bytes::from_static(b"abcd")), 4)
                .await
                .unwrap(),
            "abcd"
        );
        let err = collect(Full::new(Bytes::from_static(b"abcde")), 4)
            .await
            .unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { limit: 4 }), "{err}");
    }
}
