//! Accepting connections: `TCP_NODELAY` on each, and at most `--web.max-connections`
//! open at once, as Prometheus's limit listener does. Past the limit no connection is
//! accepted until one closes: clients wait in the kernel's backlog rather than being
//! refused. The limit counts TCP connections, before any TLS handshake.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slots of open connections; `None` for no limit (0).
#[derive(Clone, Debug)]
pub(crate) struct Slots(Option<Arc<Semaphore>>);

impl Slots {
    pub(crate) fn new(max: usize) -> Slots {
        Slots(crate::turns(max))
    }

    /// Waits for a free slot, then accepts a connection into it (with `TCP_NODELAY`).
    /// Accept errors (out of file descriptors, a connection reset before it was
    /// accepted) are logged and retried after a pause, as axum does.
    pub(crate) async fn accept(&self, listener: &TcpListener) -> (Counted<TcpStream>, SocketAddr) {
        let slot = match &self.0 {
            // The semaphore is never closed.
            Some(s) => Arc::clone(s).acquire_owned().await.ok(),
            None => None,
        };
        loop {
            match listener.accept().await {
                Ok((mut tcp, addr)) => {
                    crate::no_delay(&mut tcp);
                    return (Counted { io: tcp, slot }, addr);
                }
                Err(e) => {
                    tracing::debug!(err = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}

/// A connection holding one of the server's slots while it is open.
#[derive(Debug)]
pub(crate) struct Counted<S> {
    io: S,
    /// Held, not read: dropping it frees the slot.
    slot: Option<OwnedSemaphorePermit>,
}

impl<S> Counted<S> {
    /// `io` holding `slot`.
    pub(crate) fn new(io: S, slot: Option<OwnedSemaphorePermit>) -> Counted<S> {
        Counted { io, slot }
    }

    /// The connection and its slot, apart (to move them to another runtime).
    pub(crate) fn into_parts(self) -> (S, Option<OwnedSemaphorePermit>) {
        (self.io, self.slot)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A plain-HTTP listener of counted connections.
pub(crate) struct Limited {
    listener: TcpListener,
    slots: Slots,
}

impl Limited {
    pub(crate) fn new(listener: TcpListener, slots: Slots) -> Limited {
        Limited { listener, slots }
    }
}

impl axum::serve::Listener for Limited {
    type Io = Counted<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.slots.accept(&self.listener).await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}
