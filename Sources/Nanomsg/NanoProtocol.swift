import CNanomsg

/// The scalability protocol a ``NanoSocket`` speaks.
///
/// Named `NanoProtocol` rather than a nested `NanoSocket.Protocol` because `.Protocol` is
/// reserved in Swift for protocol metatypes.
public enum NanoProtocol: Sendable, Hashable, CaseIterable {
    /// Request side of request/reply: sends a request, then receives its reply. A cooked REQ
    /// socket re-sends the request if no reply arrives within the resend interval.
    case req
    /// Reply side of request/reply. A cooked REP socket serves one request at a time; open it
    /// `raw` to serve several concurrently (see ``NanoSocket/receiveMessage()``).
    case rep
    /// Publisher: every message goes to all connected subscribers; it never receives.
    case pub
    /// Subscriber: receives only messages whose body starts with a subscribed prefix.
    case sub

    /// The `NN_*` protocol number passed to `nn_socket`; also the option level of the
    /// protocol's own options (`NN_SUB_SUBSCRIBE` lives at level `NN_SUB`).
    var number: Int32 {
        switch self {
        case .req: CNN_REQ
        case .rep: CNN_REP
        case .pub: CNN_PUB
        case .sub: CNN_SUB
        }
    }
}
