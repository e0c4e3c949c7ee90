//! A fixed table of objects addressed by u32 handles (slot index + generation), so TypeScript
//! holds plain numbers, a stale or doubled close is harmless, and nothing is allocated.

const std = @import("std");
const abi = @import("abi.zig");

pub const slot_bits = 8;
pub const slots_max = 1 << slot_bits;

const free: u32 = 0;
const busy: u32 = 1;
const live: u32 = 2;

pub fn Table(comptime T: type) type {
    return struct {
        const Self = @This();

        states: [slots_max]u32 = @splat(free),
        generations: [slots_max]u32 = @splat(1),
        items: [slots_max]T = undefined,

        /// Claims a slot; the caller fills it and then calls `publish` or `release`.
        pub fn claim(self: *Self) abi.Error!u32 {
            for (&self.states, 0..) |*state, i| {
                if (@cmpxchgStrong(u32, state, free, busy, .acquire, .monotonic) == null) return @intCast(i);
            }
            return error.TooManyHandles;
        }

        pub fn publish(self: *Self, index: u32) u32 {
            std.debug.assert(@atomicLoad(u32, &self.states[index], .monotonic) == busy);
            const handle = (self.generations[index] << slot_bits) | index;
            @atomicStore(u32, &self.states[index], live, .release);
            return handle;
        }

        /// Returns a claimed slot to the free list without publishing it.
        pub fn release(self: *Self, index: u32) void {
            std.debug.assert(@atomicLoad(u32, &self.states[index], .monotonic) == busy);
            // Generations skip 0 so that handle 0 is never valid.
            self.generations[index] = (self.generations[index] +% 1) & ((1 << (32 - slot_bits)) - 1);
            if (self.generations[index] == 0) self.generations[index] = 1;
            @atomicStore(u32, &self.states[index], free, .release);
        }

        pub fn get(self: *Self, handle: u32) abi.Error!*T {
            const index = handle & (slots_max - 1);
            if (@atomicLoad(u32, &self.states[index], .acquire) != live) return error.BadHandle;
            if (self.generations[index] != handle >> slot_bits) return error.BadHandle;
            return &self.items[index];
        }

        /// Takes a live handle out of the table: only one caller wins, so close is idempotent.
        pub fn retire(self: *Self, handle: u32) ?struct { index: u32, item: *T } {
            const index = handle & (slots_max - 1);
            if (self.generations[index] != handle >> slot_bits) return null;
            if (@cmpxchgStrong(u32, &self.states[index], live, busy, .acquire, .monotonic) != null) return null;
            if (self.generations[index] != handle >> slot_bits) {
                @atomicStore(u32, &self.states[index], live, .release);
                return null;
            }
            return .{ .index = index, .item = &self.items[index] };
        }
    };
}

test "a handle is valid until retired, and retiring twice does nothing" {
    var table: Table(u32) = .{};
    const index = try table.claim();
    table.items[index] = 7;
    const h = table.publish(index);
    try std.testing.expectEqual(@as(u32, 7), (try table.get(h)).*);
    const r = table.retire(h).?;
    table.release(r.index);
    try std.testing.expect(table.retire(h) == null);
    try std.testing.expectError(error.BadHandle, table.get(h));
    try std.testing.expectError(error.BadHandle, table.get(0));
}
