/// Compact JSON text written field by field.
///
/// The write path stores a JSON snapshot with every event and re-serializes metadata on every send;
/// `JSONEncoder` spends several microseconds per value in its generic machinery, on the one thread
/// that commits. This writer appends UTF-8 directly. Callers write object keys in sorted order, so
/// the text matches what `JSONEncoder` with `.sortedKeys` would decode to.
public struct JSONText: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// Whether the innermost open container already holds a value (a comma goes before the next).
    private var hasValue: [Bool] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    /// Writes `"name":`; the value follows.
    public mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        // The value after a key needs no comma of its own.
        hasValue[hasValue.count - 1] = false
    }

    public mutating func string(_ value: String) {
        separate()
        appendString(value)
    }

    public mutating func int(_ value: Int64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
    }

    /// A value that is already JSON text (validated elsewhere).
    public mutating func raw(_ json: String) {
        separate()
        bytes.append(contentsOf: json.utf8)
    }

    /// `key` and a string, skipped when nil (as `encodeIfPresent` does).
    public mutating func field(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    /// `key` and an integer, skipped when nil.
    public mutating func field(_ name: String, _ value: Int64?) {
        guard let value else { return }
        key(name)
        int(value)
    }

    private mutating func open(_ byte: UInt8) {
        separate()
        bytes.append(byte)
        hasValue.append(false)
    }

    private mutating func close(_ byte: UInt8) {
        bytes.append(byte)
        hasValue.removeLast()
    }

    private mutating func separate() {
        guard let last = hasValue.last else { return }
        if last { bytes.append(UInt8(ascii: ",")) }
        hasValue[hasValue.count - 1] = true
    }

    /// Escapes as `JSON.stringify` does (the client-request id vectors of SPEC §9.2 depend on it). Runs of bytes
    /// that need no escape are copied at once (a byte at a time was a fifth of an event's JSON snapshot).
    private mutating func appendString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var run = 0
            for (i, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run..<i]))
                appendEscaped(byte)
                run = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5c, 0x22])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5c, 0x5c])
        case 0x0a: bytes.append(contentsOf: [0x5c, UInt8(ascii: "n")])
        case 0x0d: bytes.append(contentsOf: [0x5c, UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [0x5c, UInt8(ascii: "t")])
        case 0x08: bytes.append(contentsOf: [0x5c, UInt8(ascii: "b")])
        case 0x0c: bytes.append(contentsOf: [0x5c, UInt8(ascii: "f")])
        default:
            let hex = Identifiers.hexDigits
            bytes.append(contentsOf: [0x5c, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xf)]])
        }
    }
}

extension JSONValue {
    /// Writes this value with its object keys sorted.
    public func write(to out: inout JSONText) {
        switch self {
        case .null: out.null()
        case .bool(let b): out.bool(b)
        case .int(let i): out.int(i)
        case .double(let d): out.raw(d.isFinite ? "\(d)" : "null")
        case .string(let s): out.string(s)
        case .array(let a):
            out.beginArray()
            for v in a { v.write(to: &out) }
            out.endArray()
        case .object(let o):
            out.beginObject()
            for k in o.keys.sorted() {
                out.key(k)
                o[k]!.write(to: &out)
            }
            out.endObject()
        }
    }
}

extension Message {
    /// The event payload of this message: the JSON of `EventEntity.message(self)` as the synthesized
    /// `Codable` conformance decodes it, written without `JSONEncoder`. Nil when the message carries
    /// attachments or tool data (rare; those go through the encoder).
    public var eventPayloadJSON: String? {
        guard attachments.isEmpty, toolCall == nil, stream == nil, erasedAt == nil else { return nil }
        var out = JSONText(capacity: 384 + content.utf8.count + metadata.utf8.count)
        out.beginObject()
        out.key("message")
        out.beginObject()
        out.key("_0")
        out.beginObject()
        out.field("agentSessionId", agentSessionId)
        out.key("attachments")
        out.beginArray()
        out.endArray()
        out.field("clientRequestId", clientRequestId)
        out.key("content")
        out.string(content)
        out.field("createdAt", createdAt)
        out.field("deletedAt", deletedAt)
        out.field("editedAt", editedAt)
        out.field("id", id)
        out.key("messageType")
        out.string(messageType.rawValue)
        out.key("metadata")
        out.string(metadata)
        out.field("replyToMessageId", replyToMessageId)
        out.key("role")
        out.string(role.rawValue)
        out.field("roomId", roomId)
        out.field("roomSeq", roomSeq)
        out.field("senderProfileId", senderProfileId)
        out.field("tenantId", tenantId)
        out.field("threadId", threadId)
        out.field("version", version)
        out.endObject()
        out.endObject()
        out.endObject()
        return out.text
    }
}
