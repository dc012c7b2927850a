//! Length-prefixed frames for duo's protocols over a QUIC stream.
//!
//! ```text
//! version: u8 (= 1) | kind: u8 | length: u32, big-endian | payload: length bytes
//! ```
//!
//! The length is checked against a cap before anything is allocated, so a peer cannot
//! make a device reserve memory it will not use; an unknown version ends the session.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The frame format version this build speaks.
pub const VERSION: u8 = 1;

/// A frame: its kind (protocol-specific) and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("the connection ended")]
    Closed,
    #[error("the peer speaks frame version {0}; this duo speaks {VERSION} (update duo on both devices)")]
    Version(u8),
    #[error("the peer sent a {len}-byte frame; the limit is {max} bytes")]
    TooLarge { len: u64, max: usize },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Write one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, kind: u8, payload: &[u8]) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        len: payload.len() as u64,
        max: u32::MAX as usize,
    })?;
    let mut header = [0u8; 6];
    header[0] = VERSION;
    header[1] = kind;
    header[2..].copy_from_slice(&len.to_be_bytes());
    w.write_all(&header).await?;
    w.write_all(payload).await?;
    Ok(())
}

/// Read one frame of at most `max` payload bytes.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Frame, FrameError> {
    let mut header = [0u8; 6];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    if header[0] != VERSION {
        return Err(FrameError::Version(header[0]));
    }
    let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len: len as u64, max });
    }
    // Memory grows with the bytes that actually arrive, not with what the header claims:
    // a peer that announces a large frame and sends little costs little.
    let mut payload = Vec::with_capacity(len.min(INITIAL));
    let got = r.take(len as u64).read_to_end(&mut payload).await?;
    if got < len {
        return Err(FrameError::Closed);
    }
    Ok(Frame {
        kind: header[1],
        payload,
    })
}

/// Capacity reserved for a frame's payload before its bytes arrive.
const INITIAL: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_frame(&mut a, 3, b"hello").await.unwrap();
        write_frame(&mut a, 4, b"").await.unwrap();
        assert_eq!(
            read_frame(&mut b, 100).await.unwrap(),
            Frame {
                kind: 3,
                payload: b"hello".to_vec()
            }
        );
        assert_eq!(
            read_frame(&mut b, 100).await.unwrap(),
            Frame {
                kind: 4,
                payload: vec![]
            }
        );
        drop(a);
        assert!(matches!(read_frame(&mut b, 100).await, Err(FrameError::Closed)));
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_before_allocating() {
        let (mut a, mut b) = tokio::io::duplex(64);
        // Claims 4 GiB; only the header is ever sent.
        a.write_all(&[VERSION, 1, 0xff, 0xff, 0xff, 0xff]).await.unwrap();
        match read_frame(&mut b, 1 << 20).await {
            Err(FrameError::TooLarge { len, max }) => assert_eq!((len, max), (u32::MAX as u64, 1 << 20)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn wrong_version_and_truncation() {
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[9, 1, 0, 0, 0, 0]).await.unwrap();
        assert!(matches!(read_frame(&mut b, 10).await, Err(FrameError::Version(9))));
        let (mut a, mut b) = tokio::io::duplex(64);
        a.write_all(&[VERSION, 1, 0, 0, 0, 10, 1, 2]).await.unwrap();
        drop(a);
        assert!(matches!(read_frame(&mut b, 100).await, Err(FrameError::Closed)));
    }
}
