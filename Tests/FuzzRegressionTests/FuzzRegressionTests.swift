import ChatServer
import Foundation
import Testing

/// The repository's `fuzz/` folder (seed corpus and the regression inputs of every crash or hang found).
private let fuzzRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("fuzz")

/// Every file of fuzz/corpus/<target> and fuzz/regressions/<target>, sorted.
private func inputs(_ target: String) -> [(name: String, bytes: [UInt8])] {
    ["corpus", "regressions"].flatMap { kind -> [(name: String, bytes: [UInt8])] in
        let dir = fuzzRoot.appendingPathComponent(kind).appendingPathComponent(target)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
        return names.compactMap { name in
            guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) else { return nil }
            return ("\(kind)/\(target)/\(name)", Array(data))
        }
    }
}

@Suite("Fuzz corpus and regressions replay through the fuzz entry points")
struct FuzzRegressionTests {
    @Test("every committed input of each target runs without trapping", arguments: ["frame", "cursor", "json", "allowlist"])
    func replay(target: String) {
        let all = inputs(target)
        #expect(!all.isEmpty, "fuzz/corpus/\(target) holds seeds")
        for input in all {
            switch target {
            case "frame": FuzzEntryPoints.frame(input.bytes)
            case "cursor": FuzzEntryPoints.cursor(input.bytes)
            case "json": FuzzEntryPoints.json(input.bytes)
            default: FuzzEntryPoints.allowList(input.bytes)
            }
        }
    }

    /// The frame seeds named `valid-<Method>` are correctly signed frames of every method: they pass the whole gate,
    /// so the fuzzer starts from inputs that reach payload decoding and the signature check.
    @Test("the seed corpus holds a valid signed frame of every method, and they pass the gate")
    func validFrameSeeds() throws {
        let valid = inputs("frame").filter { $0.name.hasPrefix("corpus/frame/valid-") }
        let proto = try String(contentsOf: fuzzRoot.deletingLastPathComponent()
            .appendingPathComponent("proto/smrt/chat/v1/chat.proto"), encoding: .utf8)
        let methods = proto.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard words.first == "rpc", words.count > 1 else { return nil }
            return String(words[1].prefix { $0 != "(" })
        }
        #expect(methods.count >= 50)
        for method in methods {
            #expect(valid.contains { $0.name == "corpus/frame/valid-\(method)" }, "a valid seed of \(method)")
        }
        // Health and ServerInfo are answered before the gate (RequestHandler), so the gate does not know them.
        for input in valid {
            let outside = input.name.hasSuffix("-Health") || input.name.hasSuffix("-ServerInfo")
            #expect(FuzzEntryPoints.frame(input.bytes) == (outside ? "UNIMPLEMENTED" : "OK"), "\(input.name)")
        }
    }
}
