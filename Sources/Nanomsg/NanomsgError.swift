import CNanomsg

/// An error reported by a libnanomsg call: which C function failed and the errno it left.
///
/// Callers usually only need the classification: ``isTimeout`` for a send/receive that ran
/// out of time (or found nothing with `dontWait`), ``isClosed`` for a socket that was closed
/// or a library that is terminating. Everything else is a genuine failure.
public struct NanomsgError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name of the libnanomsg function that failed, e.g. `"nn_recv"`.
    public let function: String

    /// The errno value nanomsg reported (`nn_errno()`), e.g. `EAGAIN` or nanomsg's own `ETERM`.
    public let code: Int32

    /// Creates an error for `function` failing with `code`.
    ///
    /// - Parameters:
    ///   - function: The C function that failed.
    ///   - code: The errno value it reported.
    public init(function: String, code: Int32) {
        self.function = function
        self.code = code
    }

    /// The human-readable text nanomsg gives for ``code`` (`nn_strerror`).
    public var message: String {
        String(cString: nn_strerror(code))
    }

    /// Whether the operation ran out of time: `ETIMEDOUT` (the `NN_SNDTIMEO`/`NN_RCVTIMEO`
    /// timeout expired) or `EAGAIN` (nothing could be done at once with `dontWait`).
    public var isTimeout: Bool {
        code == CNN_EAGAIN || code == CNN_ETIMEDOUT
    }

    /// Whether the socket is gone: `EBADF` (closed, possibly by another thread while this
    /// call was blocked) or `ETERM` (`nn_term()` was called and the library is shutting down).
    public var isClosed: Bool {
        code == CNN_EBADF || code == CNN_ETERM
    }

    /// Whether the address is already bound by another socket or process (`EADDRINUSE`).
    public var isAddressInUse: Bool {
        code == CNN_EADDRINUSE
    }

    /// `"<function> failed: <nn_strerror text> (errno <code>)"`.
    public var description: String {
        "\(function) failed: \(message) (errno \(code))"
    }
}
