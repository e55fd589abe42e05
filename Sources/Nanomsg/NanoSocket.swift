import CNanomsg
import Synchronization

/// A nanomsg socket that owns its descriptor: created in `init`, closed once by ``close()`` or
/// `deinit`.
///
/// ## Sendable
/// A `NanoSocket` may be shared freely between threads, and that is the point of raw REP
/// servers: several threads block in ``receiveMessage()`` on one socket at the same time.
/// This is sound because:
/// - libnanomsg sockets are thread-safe: every `nn_*` call takes a hold on the socket and the
///   socket's own lock, so concurrent `nn_send`/`nn_recv`/`nn_setsockopt` from several
///   threads are allowed (unlike ZeroMQ sockets);
/// - the only Swift state is the descriptor, immutable after `init`, and the closed flag,
///   which lives in a `Mutex` so exactly one caller ever runs `nn_close`.
///
/// The compiler can verify the conformance (no `@unchecked` needed) because the stored
/// properties are a `let Int32` and a `Mutex`; the argument above is why that is also
/// semantically true for the C state behind the descriptor.
///
/// ## Closing
/// Calls on a closed socket fail with ``NanomsgError/isClosed`` without reaching nanomsg:
/// nanomsg reuses socket numbers immediately, so passing a stale descriptor could act on
/// someone else's socket. Threads already blocked inside a call when another thread closes
/// the socket are meant to be woken by nanomsg with `EBADF` (also ``NanomsgError/isClosed``),
/// but nanomsg's send and receive drop the socket's lock while they wait, and a concurrent
/// `nn_close` can free the socket under them (nanomsg/nanomsg#449); a call that has passed the
/// closed check but not yet entered nanomsg still reaches it with the old number. Close a socket
/// only once its users are finished: give them a receive timeout and a flag to stop on, as
/// `ChatServer` does. (Separately, the inproc transport of nanomsg 1.1.5 has known races when
/// sockets close with messages in flight, nanomsg/nanomsg#894 and #1040: use ipc or tcp for
/// anything concurrent.)
public final class NanoSocket: Sendable {
    /// The nanomsg socket number returned by `nn_socket`.
    let fd: Int32

    /// The protocol this socket speaks.
    public let proto: NanoProtocol

    /// Whether the socket was opened in raw mode (`AF_SP_RAW`).
    public let isRaw: Bool

    /// Set once by the first ``close()``; guards against closing twice and using a stale fd.
    private let closed = Mutex(false)

    /// Live SUB subscriptions and how often each prefix was subscribed.
    ///
    /// nanomsg 1.1.5 crashes (SIGSEGV in its subscription trie) when unsubscribing from a SUB
    /// socket with no subscriptions, and silently accepts unknown prefixes otherwise, so
    /// ``unsubscribe(_:)`` checks here first. The lock is held across the `nn_setsockopt`
    /// call so this table and nanomsg's trie never disagree.
    let subscriptions = Mutex<[[UInt8]: Int]>([:])

    /// Opens a socket.
    ///
    /// - Parameters:
    ///   - proto: The scalability protocol.
    ///   - raw: Open in raw mode (`AF_SP_RAW`): no protocol state machine, the routing header
    ///     is exposed through ``receiveMessage()`` / ``sendMessage(body:header:)``.
    /// - Throws: ``NanomsgError`` from `nn_socket` (e.g. `EMFILE`, or `ETERM` after
    ///   ``terminate()``).
    public init(_ proto: NanoProtocol, raw: Bool = false) throws(NanomsgError) {
        let domain = raw ? CNN_AF_SP_RAW : CNN_AF_SP
        self.fd = try nanomsgCall("nn_socket") { nn_socket(domain, proto.number) }
        self.proto = proto
        self.isRaw = raw
    }

    deinit {
        close()
    }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool {
        closed.withLock { $0 }
    }

    /// Returns the descriptor for a call to `function`, or throws a closed error.
    ///
    /// - Throws: ``NanomsgError`` with `EBADF` if the socket is closed.
    func openDescriptor(for function: StaticString) throws(NanomsgError) -> Int32 {
        if closed.withLock({ $0 }) {
            throw NanomsgError(function: String(describing: function), code: CNN_EBADF)
        }
        return fd
    }

    // MARK: - Endpoints

    /// Adds a local endpoint and starts accepting connections on it.
    ///
    /// - Parameter url: `inproc://name`, `ipc:///path/to/file` or `tcp://host:port`
    ///   (nanomsg cannot bind port 0).
    /// - Returns: The endpoint id, for ``shutdown(endpoint:)``.
    /// - Throws: ``NanomsgError`` from `nn_bind`, e.g. ``NanomsgError/isAddressInUse``.
    @discardableResult
    public func bind(_ url: String) throws(NanomsgError) -> Int {
        let fd = try openDescriptor(for: "nn_bind")
        return Int(try nanomsgCall("nn_bind") { nn_bind(fd, url) })
    }

    /// Adds a remote endpoint; nanomsg connects (and reconnects) in the background.
    ///
    /// - Parameter url: The peer address, in the same forms as ``bind(_:)``.
    /// - Returns: The endpoint id, for ``shutdown(endpoint:)``.
    /// - Throws: ``NanomsgError`` from `nn_connect` (only for malformed addresses; an absent
    ///   peer is not an error).
    @discardableResult
    public func connect(_ url: String) throws(NanomsgError) -> Int {
        let fd = try openDescriptor(for: "nn_connect")
        return Int(try nanomsgCall("nn_connect") { nn_connect(fd, url) })
    }

    /// Removes an endpoint added by ``bind(_:)`` or ``connect(_:)``.
    ///
    /// - Parameter endpoint: The id returned by `bind` or `connect`.
    /// - Throws: ``NanomsgError`` from `nn_shutdown` (`EINVAL` for an unknown id).
    public func shutdown(endpoint: Int) throws(NanomsgError) {
        let fd = try openDescriptor(for: "nn_shutdown")
        try nanomsgCall("nn_shutdown") { nn_shutdown(fd, Int32(clamping: endpoint)) }
    }

    /// Closes the socket; later calls throw a closed error. Calling it again does nothing.
    ///
    /// Threads blocked in a send or receive on this socket are woken with a closed error (but see the
    /// type's note on closing: stop them first).
    /// Queued outbound messages may be dropped: nanomsg 1.x does not implement linger.
    /// Never throws: `nn_close` can only fail with `EBADF` (prevented by the closed flag)
    /// or `EINTR` (retried).
    public func close() {
        let first = closed.withLock { isClosed in
            defer { isClosed = true }
            return !isClosed
        }
        guard first else { return }
        let fd = self.fd
        _ = try? nanomsgCall("nn_close") { nn_close(fd) }
    }

    /// Tells nanomsg the process is shutting down (`nn_term`).
    ///
    /// Every blocking call on every socket returns with `ETERM` (``NanomsgError/isClosed``)
    /// and later calls fail the same way, except closing; sockets must still be closed.
    /// Intended for the very end of a process: it affects all sockets of all modules.
    public static func terminate() {
        // nn_term returns void and cannot fail, so there is no result to check.
        nn_term()
    }

    // MARK: - Cooked send / receive

    /// Sends one message.
    ///
    /// - Parameters:
    ///   - bytes: The message body; nanomsg copies it.
    ///   - dontWait: Fail with a timeout error instead of blocking when it cannot be queued.
    /// - Throws: ``NanomsgError`` from `nn_send`: ``NanomsgError/isTimeout`` when the send
    ///   timeout expires (or at once with `dontWait`), ``NanomsgError/isClosed`` on a closed
    ///   socket, `EFSM` when the protocol forbids sending now (e.g. REP before a request).
    public func send(_ bytes: [UInt8], dontWait: Bool = false) throws(NanomsgError) {
        // Array.withUnsafeBytes only rethrows untyped errors, so carry the typed one out.
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(NanomsgError) in try send(buffer, dontWait: dontWait) }
        }
        try result.get()
    }

    /// Sends one message from raw memory.
    ///
    /// - Parameters:
    ///   - buffer: The message body; nanomsg copies it before returning.
    ///   - dontWait: Fail with a timeout error instead of blocking when it cannot be queued.
    /// - Throws: The same errors as ``send(_:dontWait:)``.
    public func send(_ buffer: UnsafeRawBufferPointer, dontWait: Bool = false) throws(NanomsgError) {
        let fd = try openDescriptor(for: "nn_send")
        let flags = dontWait ? CNN_DONTWAIT : 0
        try nanomsgCall("nn_send") { nn_send(fd, buffer.baseAddress, buffer.count, flags) }
    }

    /// Receives one message.
    ///
    /// Uses nanomsg's zero-copy receive (`NN_MSG`): nanomsg hands over its own buffer, which
    /// is copied once into the returned array and freed.
    ///
    /// - Parameter dontWait: Fail with a timeout error instead of blocking if nothing is queued.
    /// - Returns: The message body.
    /// - Throws: ``NanomsgError`` from `nn_recv`: ``NanomsgError/isTimeout`` when the receive
    ///   timeout expires (or at once with `dontWait`), ``NanomsgError/isClosed`` when the
    ///   socket is closed, also by another thread while waiting, `EFSM` for REQ without a
    ///   pending request.
    public func receive(dontWait: Bool = false) throws(NanomsgError) -> [UInt8] {
        let fd = try openDescriptor(for: "nn_recv")
        let flags = dontWait ? CNN_DONTWAIT : 0
        var chunk: UnsafeMutableRawPointer?
        let count = try nanomsgCall("nn_recv") { nn_recv(fd, &chunk, cnn_msg(), flags) }
        defer { nanomsgFree(chunk) }
        return [UInt8](UnsafeRawBufferPointer(start: chunk, count: Int(count)))
    }

    // MARK: - Raw send / receive with routing header

    /// Receives one message together with its routing header (`nn_recvmsg`).
    ///
    /// Meant for raw sockets: on a raw REP socket the header identifies the requester and
    /// the request, so any number of threads can each receive a request, work on it, and
    /// answer with ``sendMessage(body:header:)`` in any order. A cooked REP socket, by
    /// contrast, only remembers one outstanding request.
    ///
    /// - Returns: The body and the opaque header (empty if nanomsg attached none).
    /// - Throws: ``NanomsgError`` from `nn_recvmsg`, classified like ``receive(dontWait:)``.
    public func receiveMessage() throws(NanomsgError) -> NanoMessage {
        try receiveMessage(dontWait: false)
    }

    /// Receives one message together with its routing header (`nn_recvmsg`).
    ///
    /// - Parameter dontWait: Fail with a timeout error instead of blocking if nothing is queued.
    /// - Returns: The body and the opaque header (empty if nanomsg attached none).
    /// - Throws: ``NanomsgError`` from `nn_recvmsg`, classified like ``receive(dontWait:)``.
    public func receiveMessage(dontWait: Bool) throws(NanomsgError) -> NanoMessage {
        let fd = try openDescriptor(for: "nn_recvmsg")
        let flags = dontWait ? CNN_DONTWAIT : 0
        var body: UnsafeMutableRawPointer?
        var control: UnsafeMutableRawPointer?
        let count = try nanomsgCall("nn_recvmsg") { cnn_recvmsg_zerocopy(fd, &body, &control, flags) }
        defer {
            nanomsgFree(body)
            nanomsgFree(control)
        }
        let bytes = [UInt8](UnsafeRawBufferPointer(start: body, count: Int(count)))
        var header: [UInt8] = []
        var headerStart: UnsafePointer<UInt8>?
        var headerCount = 0
        if let control, cnn_control_sphdr(control, &headerStart, &headerCount) == 0 {
            header = [UInt8](UnsafeBufferPointer(start: headerStart, count: headerCount))
        }
        return NanoMessage(body: bytes, header: header)
    }

    /// Sends a message with an explicit routing header (`nn_sendmsg`).
    ///
    /// On a raw REP socket this is the reply to a request received with
    /// ``receiveMessage()``: pass its ``NanoMessage/header`` unchanged. If the requester has
    /// gone away, nanomsg drops the reply silently; that is not an error.
    ///
    /// - Parameters:
    ///   - body: The message body; nanomsg copies it.
    ///   - header: The routing header, as received.
    ///   - dontWait: Fail with a timeout error instead of blocking when it cannot be queued.
    /// - Throws: ``NanomsgError`` from `nn_sendmsg`, classified like ``send(_:dontWait:)``.
    public func sendMessage(body: [UInt8], header: [UInt8], dontWait: Bool = false) throws(NanomsgError) {
        let fd = try openDescriptor(for: "nn_sendmsg")
        let flags = dontWait ? CNN_DONTWAIT : 0
        // The C helper builds the SP_HDR control block; nanomsg copies body and header.
        let result = body.withUnsafeBytes { bodyBuffer in
            header.withUnsafeBytes { headerBuffer in
                Result { () throws(NanomsgError) in
                    try nanomsgCall("nn_sendmsg") {
                        cnn_sendmsg_sphdr(
                            fd, bodyBuffer.baseAddress, bodyBuffer.count,
                            headerBuffer.baseAddress, headerBuffer.count, flags
                        )
                    }
                }
            }
        }
        _ = try result.get()
    }
}
