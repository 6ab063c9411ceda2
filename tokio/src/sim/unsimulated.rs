//! What `--cfg simloop` builds do not simulate: `net`, `fs`, `process`, `signal`, and
//! the standard streams of `io`.
//!
//! Real I/O inside a simulation would either hang on a driver that is not there or, worse,
//! do real I/O on the real clock in the middle of virtual time. So each entry point fails,
//! never silently: those that take an argument of the caller's type (a socket address, a
//! path, a program) fail **at compile time**, with an error that names the module and says
//! what to do; those that take none (`signal::ctrl_c`, `io::stdin`) panic with that message
//! when called. The types (`TcpStream`, `File`, ...) exist, with their common methods and
//! I/O traits, so that code that merely passes them around compiles; no value of them can
//! exist. Gate real I/O with `#[cfg(not(simloop))]`, or hand the component an in-memory
//! transport in tests: `tokio::io::duplex` runs on the virtual clock.

use std::convert::Infallible;
use std::io as std_io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The panic of an entry point that takes no argument.
#[track_caller]
fn not_simulated(what: &str) -> ! {
    panic!(
        "{what} is not simulated by simloop-tokio: this build has `--cfg simloop`, where only \
         time, tasks and runtimes run on the virtual clock; gate this code with \
         #[cfg(not(simloop))], or give the component an in-memory stand-in in tests"
    )
}

/// AsyncRead/AsyncWrite/AsyncSeek for a type that cannot exist.
#[allow(unused_macros)] // used by the `net` and `fs` features
macro_rules! io_traits {
    ($ty:ty) => {
        impl tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<std_io::Result<()>> {
                match self.never {}
            }
        }

        impl tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &[u8],
            ) -> Poll<std_io::Result<usize>> {
                match self.never {}
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std_io::Result<()>> {
                match self.never {}
            }

            fn poll_shutdown(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<std_io::Result<()>> {
                match self.never {}
            }
        }
    };
}

/// `tokio::net` is not simulated (see the crate docs): connecting or binding is a compile
/// error that says so.
///
/// ```compile_fail,E0277
/// use simloop_tokio as tokio;
///
/// async fn serve() -> std::io::Result<()> {
///     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
///     let (_socket, _peer) = listener.accept().await?;
///     Ok(())
/// }
/// ```
#[cfg(feature = "net")]
pub mod net {
    use super::*;
    use std::io;
    use std::net::SocketAddr;

    pub use tokio::net::ToSocketAddrs;

    /// Implemented by no type: every entry point of `tokio::net` requires it of its argument,
    /// so using one in a `--cfg simloop` build is a compile error that says why.
    #[diagnostic::on_unimplemented(
        message = "`tokio::net` is not simulated: this build has `--cfg simloop`, where \
                   simloop-tokio runs time, tasks and runtimes on the virtual clock, not \
                   sockets",
        label = "real network I/O in a simulated build",
        note = "gate this code with `#[cfg(not(simloop))]`, or give the component an \
                in-memory transport in tests (`tokio::io::duplex` runs on the virtual clock)"
    )]
    pub trait NotSimulated {
        /// Cannot be called: no type implements the trait.
        fn not_simulated<T>(self) -> T;
    }

    /// A TCP listener (not simulated; no value of it can exist).
    #[derive(Debug)]
    pub struct TcpListener {
        never: Infallible,
    }

    impl TcpListener {
        /// Not simulated: a compile error.
        pub async fn bind<A: NotSimulated>(addr: A) -> io::Result<TcpListener> {
            addr.not_simulated()
        }

        /// Not simulated: a compile error.
        pub fn from_std<S: NotSimulated>(listener: S) -> io::Result<TcpListener> {
            listener.not_simulated()
        }

        /// Accepts a connection.
        pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
            match self.never {}
        }

        /// The local address.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }
    }

    /// A TCP stream (not simulated; no value of it can exist).
    #[derive(Debug)]
    pub struct TcpStream {
        never: Infallible,
    }

    impl TcpStream {
        /// Not simulated: a compile error.
        pub async fn connect<A: NotSimulated>(addr: A) -> io::Result<TcpStream> {
            addr.not_simulated()
        }

        /// Not simulated: a compile error.
        pub fn from_std<S: NotSimulated>(stream: S) -> io::Result<TcpStream> {
            stream.not_simulated()
        }

        /// The peer's address.
        pub fn peer_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }

        /// The local address.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }

        /// Sets `TCP_NODELAY`.
        pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
            let _ = nodelay;
            match self.never {}
        }
    }

    io_traits!(TcpStream);

    /// A UDP socket (not simulated; no value of it can exist).
    #[derive(Debug)]
    pub struct UdpSocket {
        never: Infallible,
    }

    impl UdpSocket {
        /// Not simulated: a compile error.
        pub async fn bind<A: NotSimulated>(addr: A) -> io::Result<UdpSocket> {
            addr.not_simulated()
        }

        /// Connects the socket to a peer.
        pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
            let _ = addr;
            match self.never {}
        }

        /// Sends to the connected peer.
        pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
            let _ = buf;
            match self.never {}
        }

        /// Receives from the connected peer.
        pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
            let _ = buf;
            match self.never {}
        }

        /// Sends to `target`.
        pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
            let _ = (buf, target);
            match self.never {}
        }

        /// Receives a datagram and its sender.
        pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
            let _ = buf;
            match self.never {}
        }

        /// The local address.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            match self.never {}
        }
    }

    /// Not simulated: a compile error.
    pub async fn lookup_host<T: NotSimulated>(
        host: T,
    ) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        host.not_simulated()
    }

    /// A Unix socket listener (not simulated; no value of it can exist).
    #[cfg(unix)]
    #[derive(Debug)]
    pub struct UnixListener {
        never: Infallible,
    }

    #[cfg(unix)]
    impl UnixListener {
        /// Not simulated: a compile error.
        pub fn bind<P: NotSimulated>(path: P) -> io::Result<UnixListener> {
            path.not_simulated()
        }

        /// Accepts a connection.
        pub async fn accept(&self) -> io::Result<(UnixStream, std::os::unix::net::SocketAddr)> {
            match self.never {}
        }
    }

    /// A Unix stream (not simulated; no value of it can exist).
    #[cfg(unix)]
    #[derive(Debug)]
    pub struct UnixStream {
        never: Infallible,
    }

    #[cfg(unix)]
    impl UnixStream {
        /// Not simulated: a compile error.
        pub async fn connect<P: NotSimulated>(path: P) -> io::Result<UnixStream> {
            path.not_simulated()
        }
    }

    #[cfg(unix)]
    io_traits!(UnixStream);
}

/// `tokio::fs` is not simulated (see the crate docs): every function taking a path is a
/// compile error that says so.
///
/// ```compile_fail,E0277
/// use simloop_tokio as tokio;
///
/// async fn load() -> std::io::Result<String> {
///     tokio::fs::read_to_string("config.toml").await
/// }
/// ```
#[cfg(feature = "fs")]
pub mod fs {
    use super::*;
    use std::fs::Metadata;
    use std::io;
    use std::path::PathBuf;

    /// Implemented by no type: every entry point of `tokio::fs` requires it of its path, so
    /// using one in a `--cfg simloop` build is a compile error that says why.
    #[diagnostic::on_unimplemented(
        message = "`tokio::fs` is not simulated: this build has `--cfg simloop`, where \
                   simloop-tokio runs time, tasks and runtimes on the virtual clock, not files",
        label = "real file I/O in a simulated build",
        note = "gate this code with `#[cfg(not(simloop))]`, or give the component an \
                in-memory store in tests"
    )]
    pub trait NotSimulated {
        /// Cannot be called: no type implements the trait.
        fn not_simulated<T>(self) -> T;
    }

    macro_rules! path_fns {
        ($($name:ident -> $out:ty;)*) => {$(
            /// Not simulated: a compile error.
            pub async fn $name<P: NotSimulated>(path: P) -> io::Result<$out> {
                path.not_simulated()
            }
        )*};
    }

    path_fns! {
        read -> Vec<u8>;
        read_to_string -> String;
        create_dir -> ();
        create_dir_all -> ();
        remove_file -> ();
        remove_dir -> ();
        remove_dir_all -> ();
        metadata -> Metadata;
        canonicalize -> PathBuf;
        try_exists -> bool;
        read_dir -> ReadDir;
    }

    /// Not simulated: a compile error.
    pub async fn write<P: NotSimulated, C: AsRef<[u8]>>(path: P, contents: C) -> io::Result<()> {
        let _ = contents;
        path.not_simulated()
    }

    /// Not simulated: a compile error.
    pub async fn rename<P: NotSimulated, Q: AsRef<std::path::Path>>(
        from: P,
        to: Q,
    ) -> io::Result<()> {
        let _ = to;
        from.not_simulated()
    }

    /// Not simulated: a compile error.
    pub async fn copy<P: NotSimulated, Q: AsRef<std::path::Path>>(
        from: P,
        to: Q,
    ) -> io::Result<u64> {
        let _ = to;
        from.not_simulated()
    }

    /// A directory listing (not simulated; no value of it can exist).
    #[derive(Debug)]
    pub struct ReadDir {
        never: Infallible,
    }

    impl ReadDir {
        /// The next entry's path.
        pub async fn next_entry(&mut self) -> io::Result<Option<PathBuf>> {
            match self.never {}
        }
    }

    /// An open file (not simulated; no value of it can exist).
    #[derive(Debug)]
    pub struct File {
        never: Infallible,
    }

    impl File {
        /// Not simulated: a compile error.
        pub async fn open<P: NotSimulated>(path: P) -> io::Result<File> {
            path.not_simulated()
        }

        /// Not simulated: a compile error.
        pub async fn create<P: NotSimulated>(path: P) -> io::Result<File> {
            path.not_simulated()
        }

        /// The file's metadata.
        pub async fn metadata(&self) -> io::Result<Metadata> {
            match self.never {}
        }

        /// Flushes data and metadata to disk.
        pub async fn sync_all(&self) -> io::Result<()> {
            match self.never {}
        }

        /// Truncates or extends the file.
        pub async fn set_len(&self, size: u64) -> io::Result<()> {
            let _ = size;
            match self.never {}
        }
    }

    io_traits!(File);

    impl tokio::io::AsyncSeek for File {
        fn start_seek(self: Pin<&mut Self>, _: io::SeekFrom) -> std_io::Result<()> {
            match self.never {}
        }

        fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std_io::Result<u64>> {
            match self.never {}
        }
    }
}

/// `tokio::process` is not simulated (see the crate docs): `Command::new` is a compile error
/// that says so.
///
/// ```compile_fail,E0277
/// use simloop_tokio as tokio;
///
/// async fn list() -> std::io::Result<std::process::Output> {
///     tokio::process::Command::new("ls").arg("-l").output().await
/// }
/// ```
#[cfg(feature = "process")]
pub mod process {
    use super::*;
    use std::ffi::OsStr;
    use std::io;
    use std::path::Path;
    use std::process::{ExitStatus, Output, Stdio};

    /// Implemented by no type: `Command::new` requires it of its program, so using it in a
    /// `--cfg simloop` build is a compile error that says why.
    #[diagnostic::on_unimplemented(
        message = "`tokio::process` is not simulated: this build has `--cfg simloop`, where \
                   simloop-tokio runs time, tasks and runtimes on the virtual clock, not \
                   child processes",
        label = "a real child process in a simulated build",
        note = "gate this code with `#[cfg(not(simloop))]`, or give the component a stand-in \
                in tests"
    )]
    pub trait NotSimulated {
        /// Cannot be called: no type implements the trait.
        fn not_simulated<T>(self) -> T;
    }

    /// A process builder (not simulated; no value of it can exist).
    #[derive(Debug)]
    pub struct Command {
        never: Infallible,
    }

    impl Command {
        /// Not simulated: a compile error.
        pub fn new<S: NotSimulated>(program: S) -> Command {
            program.not_simulated()
        }

        /// Adds an argument.
        pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
            let _ = arg;
            match self.never {}
        }

        /// Adds arguments.
        pub fn args<I, S>(&mut self, args: I) -> &mut Command
        where
            I: IntoIterator<Item = S>,
            S: AsRef<OsStr>,
        {
            let _ = args;
            match self.never {}
        }

        /// Sets an environment variable.
        pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
            let _ = (key, val);
            match self.never {}
        }

        /// Sets the working directory.
        pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
            let _ = dir;
            match self.never {}
        }

        /// Configures stdin.
        pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
            let _ = cfg;
            match self.never {}
        }

        /// Configures stdout.
        pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
            let _ = cfg;
            match self.never {}
        }

        /// Configures stderr.
        pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
            let _ = cfg;
            match self.never {}
        }

        /// Kills the child when its handle is dropped.
        pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
            let _ = kill_on_drop;
            match self.never {}
        }

        /// Spawns the child.
        pub fn spawn(&mut self) -> io::Result<Child> {
            match self.never {}
        }

        /// Runs the child and collects its output.
        pub async fn output(&mut self) -> io::Result<Output> {
            match self.never {}
        }

        /// Runs the child and waits for its exit status.
        pub async fn status(&mut self) -> io::Result<ExitStatus> {
            match self.never {}
        }
    }

    /// A child process (not simulated; no value of it can exist).
    #[derive(Debug)]
    pub struct Child {
        never: Infallible,
    }

    impl Child {
        /// The OS id.
        pub fn id(&self) -> Option<u32> {
            match self.never {}
        }

        /// Waits for the child to exit.
        pub async fn wait(&mut self) -> io::Result<ExitStatus> {
            match self.never {}
        }

        /// Kills the child.
        pub async fn kill(&mut self) -> io::Result<()> {
            match self.never {}
        }
    }
}

/// `tokio::signal` is not simulated (see the crate docs): waiting for a signal panics with a
/// message that says so.
#[cfg(feature = "signal")]
pub mod signal {
    use std::io;

    /// Not simulated: panics (no OS signal reaches a simulation; send your component a
    /// shutdown message in tests instead).
    #[track_caller]
    pub fn ctrl_c() -> impl std::future::Future<Output = io::Result<()>> + Send {
        super::not_simulated("tokio::signal::ctrl_c");
        #[allow(unreachable_code)]
        async {
            Ok(())
        }
    }

    /// Unix signals (not simulated).
    #[cfg(unix)]
    pub mod unix {
        use std::io;

        pub use tokio::signal::unix::SignalKind;

        /// A signal stream (not simulated; no value of it can exist).
        #[derive(Debug)]
        pub struct Signal {
            never: std::convert::Infallible,
        }

        impl Signal {
            /// Receives the next signal.
            pub async fn recv(&mut self) -> Option<()> {
                match self.never {}
            }
        }

        /// Not simulated: panics.
        #[track_caller]
        pub fn signal(kind: SignalKind) -> io::Result<Signal> {
            let _ = kind;
            super::super::not_simulated("tokio::signal::unix::signal")
        }
    }
}

/// tokio's `io`: its traits and in-memory utilities (`duplex`, `split`, `copy`, buffers)
/// need no driver and run on the virtual clock; the standard streams, which need tokio's
/// blocking pool, panic with a message that says they are not simulated.
pub mod io {
    pub use tokio::io::*;

    /// Not simulated: panics.
    #[cfg(feature = "io-std")]
    #[track_caller]
    pub fn stdin() -> Stdin {
        super::not_simulated("tokio::io::stdin")
    }

    /// Not simulated: panics.
    #[cfg(feature = "io-std")]
    #[track_caller]
    pub fn stdout() -> Stdout {
        super::not_simulated("tokio::io::stdout")
    }

    /// Not simulated: panics.
    #[cfg(feature = "io-std")]
    #[track_caller]
    pub fn stderr() -> Stderr {
        super::not_simulated("tokio::io::stderr")
    }
}
