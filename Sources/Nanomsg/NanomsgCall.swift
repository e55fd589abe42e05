import CNanomsg

/// Runs one libnanomsg call and turns its C failure convention into a thrown ``NanomsgError``.
///
/// Every `nn_*` function that can fail goes through here so that error handling is uniform:
/// a negative result means failure, and `nn_errno()` must be read right away, on the same
/// thread, before anything else can overwrite the thread-local errno. `EINTR` (a signal
/// interrupted a blocking call) is not a real failure, so the call is simply re-issued;
/// for `nn_close` that is also what the nanomsg docs prescribe.
///
/// - Parameters:
///   - function: The C function name, used in the error.
///   - call: The call itself; returns the C result (`>= 0` on success).
/// - Returns: The non-negative C result (a socket, endpoint id or byte count).
/// - Throws: ``NanomsgError`` with `function` and the errno for any other failure.
@discardableResult
@inline(__always)
func nanomsgCall(_ function: StaticString, _ call: () -> Int32) throws(NanomsgError) -> Int32 {
    while true {
        let result = call()
        if result >= 0 {
            return result
        }
        let code = nn_errno()
        if code == CNN_EINTR {
            continue
        }
        throw NanomsgError(function: String(describing: function), code: code)
    }
}

/// Releases a zero-copy message or control chunk obtained from nanomsg.
///
/// Routed through ``nanomsgCall(_:_:)`` like every other call; `nn_freemsg` cannot fail for
/// a chunk nanomsg handed out, so an error here would be a bug and is deliberately ignored
/// (this runs in `defer` blocks, which cannot throw).
func nanomsgFree(_ chunk: UnsafeMutableRawPointer?) {
    guard let chunk else { return }
    _ = try? nanomsgCall("nn_freemsg") { nn_freemsg(chunk) }
}
