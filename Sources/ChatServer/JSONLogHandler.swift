import ChatCore
import Foundation
import Logging

/// A swift-log handler writing one JSON object per line to standard error (`log_format = json`): `ts` (UTC,
/// milliseconds), `level`, `label`, `message`, `source`, then the metadata's keys (the logger's, the provider's,
/// the line's) as strings. Lines are written whole, one `write` each.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        var all = self.metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let metadata { all.merge(metadata) { _, new in new } }
        var json = JSONText(capacity: 256)
        json.beginObject()
        for (key, value) in [("ts", Self.timestamp()), ("level", level.rawValue), ("label", label),
                             ("message", message.description), ("source", source)] {
            json.key(key)
            json.string(value)
        }
        for (key, value) in all.sorted(by: { $0.key < $1.key }) where !Self.reserved.contains(key) {
            json.key(key)
            json.string(Self.text(value))
        }
        json.endObject()
        FileHandle.standardError.write(Data(json.bytes + [UInt8(ascii: "\n")]))
    }

    private static let reserved: Set<String> = ["ts", "level", "label", "message", "source"]

    private static func text(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array, .dictionary: value.description
        }
    }

    private static let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    private static func timestamp() -> String { format.format(Date()) }
}
