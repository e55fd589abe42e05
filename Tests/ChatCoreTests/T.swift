import Testing
@Test func trivial() { #expect(1 == 1) }
