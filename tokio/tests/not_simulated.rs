//! What `--cfg simloop` does not simulate fails clearly instead of falling back to real I/O
//! or real time. (Connecting, binding, opening files and starting processes are compile
//! errors; see the `compile_fail` examples in the crate's `net`, `fs` and `process` docs.)
#![cfg(simloop)]

extern crate simloop_tokio as tokio;

use std::time::Duration;

#[tokio::test]
#[should_panic(expected = "tokio::signal::ctrl_c is not simulated by simloop-tokio")]
async fn waiting_for_ctrl_c_panics_clearly() {
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::test]
#[should_panic(expected = "tokio::io::stdin is not simulated by simloop-tokio")]
async fn the_standard_streams_panic_clearly() {
    let _ = tokio::io::stdin();
}

/// tokio's `mpsc::Sender::send_timeout` sleeps on tokio's own timer, which needs tokio's
/// runtime: it panics with tokio's message instead of waiting on real time, and simloop's
/// report adds the fix: its equivalent on the virtual clock is `timeout(d, tx.send(v))`.
#[tokio::test]
#[should_panic(
    expected = "there is no reactor running, must be called from the context of \
                           a Tokio 1.x runtime (hint: a tokio API that needs tokio's own \
                           runtime ran on a simloop loop; under simloop-tokio the one such \
                           method left is tokio's mpsc::Sender::send_timeout: write \
                           tokio::time::timeout(d, tx.send(v)) instead)"
)]
async fn send_timeout_fails_instead_of_using_real_time() {
    let (tx, _rx) = tokio::sync::mpsc::channel::<u32>(1);
    tx.send(1).await.unwrap();
    let _ = tx.send_timeout(2, Duration::from_millis(5)).await;
}

#[tokio::test]
async fn a_timeout_around_send_is_the_virtual_clock_equivalent() {
    let start = tokio::time::Instant::now();
    let (tx, _rx) = tokio::sync::mpsc::channel::<u32>(1);
    tx.send(1).await.unwrap();
    let full = tokio::time::timeout(Duration::from_millis(5), tx.send(2)).await;
    assert!(full.is_err());
    assert_eq!(start.elapsed(), Duration::from_millis(5));
}

/// In-memory I/O from `tokio::io` needs no driver: a duplex pipe between two tasks, with
/// virtual delays.
#[tokio::test]
async fn in_memory_io_runs_on_the_virtual_clock() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let start = tokio::time::Instant::now();
    let (mut client, mut server) = tokio::io::duplex(64);
    let srv = tokio::spawn(async move {
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await; // processing
        server.write_all(b"pong").await.unwrap();
        buf
    });
    tokio::time::sleep(Duration::from_millis(10)).await; // network delay
    client.write_all(b"ping").await.unwrap();
    let mut reply = [0u8; 4];
    client.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"pong");
    assert_eq!(&srv.await.unwrap(), b"ping");
    assert_eq!(start.elapsed(), Duration::from_millis(30));
}
