import CNanomsg

/// Socket options. Durations are milliseconds, sizes bytes; `-1` means infinite/unlimited
/// where noted. nanomsg sockets are thread-safe, so options may be changed while other
/// threads use the socket; a new timeout applies to calls that start afterwards.
extension NanoSocket {
    // MARK: - Generic integer options

    /// Sets an integer option (`nn_setsockopt`).
    ///
    /// - Parameters:
    ///   - level: `NN_SOL_SOCKET` or a protocol number.
    ///   - option: The option number.
    ///   - value: The new value; values outside `Int32` are clamped.
    /// - Throws: ``NanomsgError`` from `nn_setsockopt` (`ENOPROTOOPT`, `EINVAL`, closed).
    func setIntOption(level: Int32, option: Int32, _ value: Int) throws(NanomsgError) {
        let fd = try openDescriptor(for: "nn_setsockopt")
        var raw = Int32(clamping: value)
        try nanomsgCall("nn_setsockopt") {
            nn_setsockopt(fd, level, option, &raw, MemoryLayout<Int32>.size)
        }
    }

    /// Reads an integer option (`nn_getsockopt`).
    ///
    /// - Parameters:
    ///   - level: `NN_SOL_SOCKET` or a protocol number.
    ///   - option: The option number.
    /// - Returns: The current value.
    /// - Throws: ``NanomsgError`` from `nn_getsockopt`.
    func intOption(level: Int32, option: Int32) throws(NanomsgError) -> Int {
        let fd = try openDescriptor(for: "nn_getsockopt")
        var raw: Int32 = 0
        var size = MemoryLayout<Int32>.size
        try nanomsgCall("nn_getsockopt") { nn_getsockopt(fd, level, option, &raw, &size) }
        return Int(raw)
    }

    // MARK: - Timeouts

    /// How long a send may block before failing with a timeout error; `-1` = forever.
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt`.
    public var sendTimeout: Int {
        get throws(NanomsgError) { try intOption(level: CNN_SOL_SOCKET, option: CNN_SNDTIMEO) }
    }

    /// Sets how long a send may block (`NN_SNDTIMEO`).
    ///
    /// - Parameter milliseconds: The timeout; `-1` = block forever (the default).
    /// - Throws: ``NanomsgError`` from `nn_setsockopt`.
    public func setSendTimeout(milliseconds: Int) throws(NanomsgError) {
        try setIntOption(level: CNN_SOL_SOCKET, option: CNN_SNDTIMEO, milliseconds)
    }

    /// How long a receive may block before failing with a timeout error; `-1` = forever.
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt`.
    public var receiveTimeout: Int {
        get throws(NanomsgError) { try intOption(level: CNN_SOL_SOCKET, option: CNN_RCVTIMEO) }
    }

    /// Sets how long a receive may block (`NN_RCVTIMEO`).
    ///
    /// - Parameter milliseconds: The timeout; `-1` = block forever (the default).
    /// - Throws: ``NanomsgError`` from `nn_setsockopt`.
    public func setReceiveTimeout(milliseconds: Int) throws(NanomsgError) {
        try setIntOption(level: CNN_SOL_SOCKET, option: CNN_RCVTIMEO, milliseconds)
    }

    // MARK: - Buffers and limits

    /// The outbound buffer size in bytes (`NN_SNDBUF`).
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt`.
    public var sendBufferSize: Int {
        get throws(NanomsgError) { try intOption(level: CNN_SOL_SOCKET, option: CNN_SNDBUF) }
    }

    /// Sets the outbound buffer size (`NN_SNDBUF`, default 128 kB).
    ///
    /// - Parameter bytes: The size; must be positive.
    /// - Throws: ``NanomsgError`` from `nn_setsockopt` (`EINVAL` for a non-positive size).
    public func setSendBufferSize(_ bytes: Int) throws(NanomsgError) {
        try setIntOption(level: CNN_SOL_SOCKET, option: CNN_SNDBUF, bytes)
    }

    /// The inbound buffer size in bytes (`NN_RCVBUF`).
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt`.
    public var receiveBufferSize: Int {
        get throws(NanomsgError) { try intOption(level: CNN_SOL_SOCKET, option: CNN_RCVBUF) }
    }

    /// Sets the inbound buffer size (`NN_RCVBUF`, default 128 kB).
    ///
    /// - Parameter bytes: The size; must be positive.
    /// - Throws: ``NanomsgError`` from `nn_setsockopt` (`EINVAL` for a non-positive size).
    public func setReceiveBufferSize(_ bytes: Int) throws(NanomsgError) {
        try setIntOption(level: CNN_SOL_SOCKET, option: CNN_RCVBUF, bytes)
    }

    /// The largest inbound message accepted, in bytes; `-1` = unlimited (`NN_RCVMAXSIZE`).
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt`.
    public var receiveMaxSize: Int {
        get throws(NanomsgError) { try intOption(level: CNN_SOL_SOCKET, option: CNN_RCVMAXSIZE) }
    }

    /// Sets the largest inbound message accepted (`NN_RCVMAXSIZE`, default 1 MiB).
    ///
    /// A larger frame is never delivered: on stream transports (tcp, ipc) nanomsg drops the
    /// connection that sent it, and the peer reconnects. inproc does not enforce the limit.
    ///
    /// - Parameter bytes: The limit; `-1` = unlimited.
    /// - Throws: ``NanomsgError`` from `nn_setsockopt` (`EINVAL` below `-1`).
    public func setReceiveMaxSize(_ bytes: Int) throws(NanomsgError) {
        try setIntOption(level: CNN_SOL_SOCKET, option: CNN_RCVMAXSIZE, bytes)
    }

    // MARK: - Connection behaviour

    /// The linger period in milliseconds (`NN_LINGER`).
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt`.
    public var linger: Int {
        get throws(NanomsgError) { try intOption(level: CNN_SOL_SOCKET, option: CNN_LINGER) }
    }

    /// Sets the linger period (`NN_LINGER`).
    ///
    /// nanomsg 1.x accepts and stores this value but does not act on it: `nn_close` does
    /// not wait for pending outbound messages. It is kept for API completeness.
    ///
    /// - Parameter milliseconds: The period; `-1` = infinite.
    /// - Throws: ``NanomsgError`` from `nn_setsockopt`.
    public func setLinger(milliseconds: Int) throws(NanomsgError) {
        try setIntOption(level: CNN_SOL_SOCKET, option: CNN_LINGER, milliseconds)
    }

    /// How long to wait before re-establishing a broken connection (`NN_RECONNECT_IVL`).
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt`.
    public var reconnectInterval: Int {
        get throws(NanomsgError) { try intOption(level: CNN_SOL_SOCKET, option: CNN_RECONNECT_IVL) }
    }

    /// Sets the reconnect interval (`NN_RECONNECT_IVL`, default 100 ms).
    ///
    /// - Parameter milliseconds: The interval.
    /// - Throws: ``NanomsgError`` from `nn_setsockopt`.
    public func setReconnectInterval(milliseconds: Int) throws(NanomsgError) {
        try setIntOption(level: CNN_SOL_SOCKET, option: CNN_RECONNECT_IVL, milliseconds)
    }

    /// How long a cooked REQ socket waits for a reply before re-sending the request
    /// (`NN_REQ_RESEND_IVL`).
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt` (`ENOPROTOOPT` on non-REQ sockets).
    public var requestResendInterval: Int {
        get throws(NanomsgError) { try intOption(level: CNN_REQ, option: CNN_REQ_RESEND_IVL) }
    }

    /// Sets the REQ resend interval (`NN_REQ_RESEND_IVL`, default 60 s).
    ///
    /// Because of these automatic re-sends a request may be served more than once; servers
    /// should make handlers idempotent or the interval longer than any handler runs.
    ///
    /// - Parameter milliseconds: The interval.
    /// - Throws: ``NanomsgError`` from `nn_setsockopt` (`ENOPROTOOPT` on non-REQ sockets).
    public func setRequestResendInterval(milliseconds: Int) throws(NanomsgError) {
        try setIntOption(level: CNN_REQ, option: CNN_REQ_RESEND_IVL, milliseconds)
    }

    // MARK: - Subscriptions

    /// Subscribes a SUB socket to messages whose body starts with `prefix`.
    ///
    /// A SUB socket receives nothing until it subscribes; an empty prefix matches everything.
    /// Subscriptions are counted: subscribing twice needs two unsubscribes.
    ///
    /// - Parameter prefix: The topic prefix, compared byte by byte.
    /// - Throws: ``NanomsgError`` from `nn_setsockopt` (`ENOPROTOOPT` on non-SUB sockets).
    public func subscribe(_ prefix: [UInt8]) throws(NanomsgError) {
        let result = subscriptions.withLock { counts in
            Result { () throws(NanomsgError) in
                try setBytesOption(level: CNN_SUB, option: CNN_SUB_SUBSCRIBE, prefix)
                counts[prefix, default: 0] += 1
            }
        }
        try result.get()
    }

    /// Removes one subscription added by ``subscribe(_:)``.
    ///
    /// - Parameter prefix: The exact prefix that was subscribed.
    /// - Throws: ``NanomsgError`` with `EINVAL` (function `nn_setsockopt`) if `prefix` is not
    ///   currently subscribed; this is checked before calling nanomsg, which would crash on a
    ///   socket without subscriptions. Otherwise errors from `nn_setsockopt`.
    public func unsubscribe(_ prefix: [UInt8]) throws(NanomsgError) {
        let result = subscriptions.withLock { counts in
            Result { () throws(NanomsgError) in
                guard let count = counts[prefix] else {
                    throw NanomsgError(function: "nn_setsockopt", code: CNN_EINVAL)
                }
                try setBytesOption(level: CNN_SUB, option: CNN_SUB_UNSUBSCRIBE, prefix)
                counts[prefix] = count > 1 ? count - 1 : nil
            }
        }
        try result.get()
    }

    /// Sets a byte-string option.
    ///
    /// - Throws: ``NanomsgError`` from `nn_setsockopt`.
    private func setBytesOption(level: Int32, option: Int32, _ value: [UInt8]) throws(NanomsgError) {
        let fd = try openDescriptor(for: "nn_setsockopt")
        let result = value.withUnsafeBytes { buffer in
            Result { () throws(NanomsgError) in
                try nanomsgCall("nn_setsockopt") {
                    nn_setsockopt(fd, level, option, buffer.baseAddress, buffer.count)
                }
            }
        }
        _ = try result.get()
    }

    // MARK: - Polling

    /// A file descriptor that becomes readable when a message can be received (`NN_RCVFD`).
    ///
    /// Use it with `poll`/`epoll`/`DispatchSource` to learn when ``receive(dontWait:)`` will
    /// succeed; never read from or close it (nanomsg owns it, and it stays valid until the
    /// socket is closed).
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt` (`ENOPROTOOPT` for send-only sockets
    ///   such as PUB).
    public var receiveFileDescriptor: Int32 {
        get throws(NanomsgError) { Int32(try intOption(level: CNN_SOL_SOCKET, option: CNN_RCVFD)) }
    }

    /// A file descriptor that becomes readable when a message can be sent (`NN_SNDFD`).
    ///
    /// Same rules as ``receiveFileDescriptor``.
    ///
    /// - Throws: ``NanomsgError`` from `nn_getsockopt` (`ENOPROTOOPT` for receive-only
    ///   sockets such as SUB).
    public var sendFileDescriptor: Int32 {
        get throws(NanomsgError) { Int32(try intOption(level: CNN_SOL_SOCKET, option: CNN_SNDFD)) }
    }

    // MARK: - Statistics

    /// nanomsg's own counters for this socket (`nn_get_statistic`).
    public enum Statistic: Sendable {
        /// Connections open now (accepted and established).
        case currentConnections
        case acceptedConnections
        case droppedConnections
        case messagesSent

        var code: Int32 {
            switch self {
            case .currentConnections: CNN_STAT_CURRENT_CONNECTIONS
            case .acceptedConnections: CNN_STAT_ACCEPTED_CONNECTIONS
            case .droppedConnections: CNN_STAT_DROPPED_CONNECTIONS
            case .messagesSent: CNN_STAT_MESSAGES_SENT
            }
        }
    }

    /// The value of one of nanomsg's statistics for this socket; nil once the socket is closed.
    public func statistic(_ statistic: Statistic) -> UInt64? {
        guard let fd = try? openDescriptor(for: "nn_get_statistic") else { return nil }
        let value = nn_get_statistic(fd, statistic.code)
        return value == UInt64.max ? nil : value
    }
}
