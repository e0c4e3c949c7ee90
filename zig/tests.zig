//! The root of `zig build test`: both libraries' tests in one binary, so a test that both
//! import (abi, sys, ring) runs, and counts, once.
test {
    _ = @import("lib.zig");
    _ = @import("bench.zig");
    _ = @import("flows.zig");
}
