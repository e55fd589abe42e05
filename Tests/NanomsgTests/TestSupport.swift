import Foundation
import Nanomsg
import Testing

/// The transports every round-trip test runs over.
enum Transport: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case inproc
    case ipc
    case tcp

    var testDescription: String { rawValue }
}

/// Binds `socket` to a fresh address on `transport` and returns the URL to connect to.
///
/// Names are unique per call because Swift Testing runs tests in parallel. nanomsg cannot bind
/// tcp port 0, so random high ports are tried until one is free.
func bindFresh(_ socket: NanoSocket, on transport: Transport) throws -> String {
    let token = UUID().uuidString.prefix(8).lowercased()
    switch transport {
    case .inproc:
        let url = "inproc://smrtchat-test-\(token)"
        try socket.bind(url)
        return url
    case .ipc:
        // ipc addresses are limited to NN_SOCKADDR_MAX (128) bytes, so keep the path short.
        let directory = FileManager.default.temporaryDirectory.path
        let url = "ipc://\(directory)/nn-\(token).ipc"
        try socket.bind(url)
        return url
    case .tcp:
        var lastError: NanomsgError?
        for _ in 0..<50 {
            let url = "tcp://127.0.0.1:\(Int.random(in: 20_000...60_999))"
            do throws(NanomsgError) {
                try socket.bind(url)
                return url
            } catch {
                guard error.isAddressInUse else { throw error }
                lastError = error
            }
        }
        throw lastError ?? NanomsgError(function: "nn_bind", code: EADDRINUSE)
    }
}

/// Runs blocking socket work on a dedicated thread and awaits its result.
///
/// nanomsg calls block the calling OS thread; doing that on Swift's cooperative pool (two
/// threads on a two-core machine) could starve every other test, so each blocking actor in a
/// test gets a `Thread` of its own.
func onThread<T: Sendable>(
    _ name: String = "nanomsg-test",
    _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = name
        thread.start()
    }
}

/// The UTF-8 bytes of `text`.
func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

/// Decodes `bytes` as UTF-8 for readable expectations.
func text(_ bytes: [UInt8]) -> String {
    String(decoding: bytes, as: UTF8.self)
}

/// The receive timeout every test socket gets, so a broken test fails instead of hanging.
let testTimeoutMilliseconds = 5_000
