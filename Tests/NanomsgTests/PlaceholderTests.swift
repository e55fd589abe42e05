import Testing
import Nanomsg
@Test func nanomsgPlaceholder() {}
