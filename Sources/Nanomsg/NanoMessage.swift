/// A message received on a raw socket: the body plus the routing header nanomsg attached.
///
/// On a raw REP socket the header is the request's backtrace (the pipe it came in on and the
/// request id). It is opaque: hand it back unchanged to ``NanoSocket/sendMessage(body:header:)``
/// so the reply is routed to the peer that asked and matched to its request.
public struct NanoMessage: Sendable, Hashable {
    /// The message payload.
    public var body: [UInt8]

    /// The opaque routing header (the `SP_HDR` control data of `nn_recvmsg`).
    public var header: [UInt8]

    /// Creates a message from a body and a routing header.
    ///
    /// - Parameters:
    ///   - body: The payload.
    ///   - header: The routing header, as received; empty for none.
    public init(body: [UInt8], header: [UInt8]) {
        self.body = body
        self.header = header
    }
}
