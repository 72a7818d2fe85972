"""A stimulus player around the SySMT array: the per-cycle host loop, in Verilog.

The per-cycle cocotb bench (`array_test.py`) hands the simulator one Python int per
stream and cycle, so Python, not the model, sets the pace. The player wrapper moves that
loop into the simulation: it plays packed input beats from a memory onto the array's
input stream (valid/ready), pushes back on the output stream, stores the output beats
in a second memory, counts the cycles the bench counts (first accepted input to last
output row, back-pressure stalls, host pauses) and raises `done`. cocotb
(`player_test.py`) only refills and empties the memories, a half at a time, through
files ($readmemh / $writememh, both simulators); Python runs once per `half` beats.

Both memories are rings of two halves: while the array plays one half, cocotb loads
the next chunk of the job into the other, in zero simulated time, so a job of any
length streams without a gap and without a memory its size.

Host pauses and back-pressure come from two xorshift32 generators seeded per job: the
host offers a pending beat in a cycle when its draw (16 bits) is below
`valid_threshold`, the consumer is ready when its draw is below `ready_threshold`
(65536 = always). The same JobStream rules as the per-cycle bench, another random
sequence.

Ports (all read or written by cocotb only between halves):
    start            one-cycle pulse: play a job of n_in input and n_out output beats
    in_load_seq/half a new sequence number loads `+player_in=<file>` into that half
    out_dump_seq/half a new sequence number writes that half to `+player_out=<file>`
    in_halves        input halves played so far (cocotb refills the one just played)
    out_halves       output halves filled so far (cocotb dumps the one just filled)
    done, hung       the job ended: every row out (then one more cycle, to catch an
                     extra row), or cycle_limit passed without it
    first_cycle, last_cycle, stall_cycles, host_gaps, cycles, sent, received, extra_output
    busy_cycles, pe_cycles_by_active__*, lossy_reductions: the array's counters
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from nbsmt.hw.array_io import ArrayFormat

#: Beats per half of the input ring and of the output ring: cocotb wakes once per half.
INPUT_HALF = 2048
OUTPUT_HALF = 512

ALWAYS = 1 << 16   # a threshold no 16-bit draw reaches: never pause

#: The longest job (input beats, and cycles) the player's 32-bit counters hold. The rings
#: make the length independent of the memories: any job up to this streams.
PLAYER_MAX = 2**32 - 1


def threshold(probability: float) -> int:
    """The 17-bit threshold under which a 16-bit draw means "yes" with `probability`."""
    return min(ALWAYS, max(0, round(float(probability) * ALWAYS)))


def write_hex(path: Path, beats: np.ndarray, count: int) -> None:
    """`count` lines of $readmemh hex, one beat (little-endian bytes) per line; missing
    beats (past the job's end) are zeros, so every load fills a whole half."""
    rows = np.zeros((count, beats.shape[1]), dtype=np.uint8)
    rows[:len(beats)] = beats
    text = np.flip(rows, axis=1).tobytes().hex()
    width = 2 * beats.shape[1]
    path.write_text("\n".join(text[i:i + width] for i in range(0, len(text), width)) + "\n")


def read_hex(path: Path, nbytes: int, rows: int) -> np.ndarray:
    """The first `rows` $writememh lines back into little-endian bytes [rows, nbytes]
    (comments skipped; the rest of the half was never written)."""
    words = [line.split("//")[0].strip() for line in path.read_text().splitlines()]
    words = [w for w in words if w and not w.startswith("@")][:rows]
    if len(words) != rows:
        raise ValueError(f"{path}: {len(words)} output beats, expected {rows}")
    if any(set(w) - set("0123456789abcdefABCDEF") for w in words):
        raise ValueError(f"{path}: undefined bits in the output beats")
    data = bytes.fromhex("".join(w.zfill(2 * nbytes) for w in words))
    return np.flip(np.frombuffer(data, dtype=np.uint8).reshape(-1, nbytes), axis=1)


@dataclasses.dataclass(frozen=True)
class PlayerShape:
    """Widths and ring sizes a player is generated for (its Verilog depends on nothing else)."""

    input_bits: int
    output_bits: int
    threads: int
    counter_bits: int
    input_half: int = INPUT_HALF
    output_half: int = OUTPUT_HALF

    @classmethod
    def of(cls, fmt: ArrayFormat, counter_bits: int, **halves) -> "PlayerShape":
        return cls(fmt.input_bits, fmt.output_bits, fmt.threads, counter_bits, **halves)

    @property
    def output_bytes(self) -> int:
        return -(-self.output_bits // 8)


def player_name(array_top: str) -> str:
    return f"{array_top}_player"


def player_verilog(array_top: str, shape: PlayerShape) -> str:
    """The player module (named `player_name(array_top)`) that instantiates `array_top`;
    compile it together with the array's Verilog."""
    s = shape
    if min(s.input_half, s.output_half) < 2:
        raise ValueError("the player's ring halves need at least 2 beats each")
    iw, ow, cb = s.input_bits, s.output_bits, s.counter_bits
    ih, oh = s.input_half, s.output_half
    actives = range(s.threads + 1)
    counter_ports = ["busy_cycles", *(f"pe_cycles_by_active__{b}" for b in actives),
                     "lossy_reductions"]
    # (declaration, name) of every port, in the port list's order: one list for both
    ports = [("input", "clk"), ("input", "rst"), ("input", "start"),
             ("input [31:0]", "n_in"), ("input [31:0]", "n_out"),
             ("input [31:0]", "cycle_limit"), ("input [31:0]", "seed"),
             ("input [16:0]", "valid_threshold"), ("input [16:0]", "ready_threshold"),
             ("input [7:0]", "in_load_seq"), ("input", "in_load_half"),
             ("input [7:0]", "out_dump_seq"), ("input", "out_dump_half"),
             ("output reg [31:0]", "in_halves"), ("output reg [31:0]", "out_halves"),
             ("output reg", "done"), ("output reg", "hung"),
             *(("output reg [31:0]", name) for name in (
                 "first_cycle", "last_cycle", "stall_cycles", "host_gaps", "cycles", "sent",
                 "received")),
             ("output reg", "extra_output"),
             *((f"output [{cb - 1}:0]", name) for name in counter_ports)]
    port_list = ", ".join(name for _, name in ports)
    port_decls = "\n".join(f"  {decl} {name};" for decl, name in ports)
    counter_conns = ",\n".join(f"    .{p}({p})" for p in counter_ports)
    return f"""\
// Stimulus player for {array_top} (generated by nbsmt.tb.player; see its docstring).
module {player_name(array_top)}({port_list});
{port_decls}

  reg [{iw - 1}:0] in_mem [0:{2 * ih - 1}];
  reg [{ow - 1}:0] out_mem [0:{2 * oh - 1}];
  reg [8*4096-1:0] in_path;
  reg [8*4096-1:0] out_path;
  reg [7:0] in_loaded_seq;
  reg [7:0] out_dumped_seq;
  reg [31:0] rd;
  reg [31:0] wr;
  reg [31:0] host_rng;
  reg [31:0] consumer_rng;
  reg running;
  reg finishing;
  reg seen_first;

  initial begin
    if (!$value$plusargs("player_in=%s", in_path)) in_path = "player_in.hex";
    if (!$value$plusargs("player_out=%s", out_path)) out_path = "player_out.hex";
    in_loaded_seq = 8'd0;
    out_dumped_seq = 8'd0;
    // defined from time 0, as the per-cycle bench drives them: no x edge reaches the array
    running = 1'b0;
    finishing = 1'b0;
    rd = 32'd0;
  end

  wire pending = running && (sent < n_in);
  wire present = pending && ({{1'b0, host_rng[15:0]}} < valid_threshold);
  wire taking = running && ({{1'b0, consumer_rng[15:0]}} < ready_threshold);
  wire i_ready;
  wire o_valid;
  wire [{ow - 1}:0] o_payload;

  {array_top} array (
    .clk(clk),
    .rst(rst),
    .i__valid(present),
    .i__payload(present ? in_mem[rd] : {iw}'d0),
    .i__ready(i_ready),
    .o__valid(o_valid),
    .o__payload(o_payload),
    .o__ready(taking),
{counter_conns}
  );

  function [31:0] xorshift(input [31:0] x);
    reg [31:0] y;
    begin
      y = x ^ (x << 13);
      y = y ^ (y >> 17);
      xorshift = y ^ (y << 5);
    end
  endfunction

  // cocotb's requests: refill an input half, write out an output half
  always @(posedge clk) begin
    if (in_load_seq != in_loaded_seq) begin
      if (in_load_half) $readmemh(in_path, in_mem, {ih}, {2 * ih - 1});
      else $readmemh(in_path, in_mem, 0, {ih - 1});
      in_loaded_seq <= in_load_seq;
    end
    if (out_dump_seq != out_dumped_seq) begin
      if (out_dump_half) $writememh(out_path, out_mem, {oh}, {2 * oh - 1});
      else $writememh(out_path, out_mem, 0, {oh - 1});
      out_dumped_seq <= out_dump_seq;
    end
  end

  always @(posedge clk) begin
    if (rst) begin
      running <= 1'b0;
      finishing <= 1'b0;
      done <= 1'b0;
      hung <= 1'b0;
    end else if (start) begin
      running <= 1'b1;
      finishing <= 1'b0;
      done <= 1'b0;
      hung <= 1'b0;
      rd <= 32'd0;
      wr <= 32'd0;
      sent <= 32'd0;
      received <= 32'd0;
      in_halves <= 32'd0;
      out_halves <= 32'd0;
      cycles <= 32'd0;
      first_cycle <= 32'd0;
      last_cycle <= 32'd0;
      seen_first <= 1'b0;
      stall_cycles <= 32'd0;
      host_gaps <= 32'd0;
      extra_output <= 1'b0;
      // xorshift must not start at 0; the two streams differ
      host_rng <= seed ^ 32'h9e3779b9;
      consumer_rng <= (seed ^ 32'h7f4a7c15) | 32'd1;
    end else if (finishing) begin
      extra_output <= o_valid;   // a duplicated row would be offered now
      finishing <= 1'b0;
      done <= 1'b1;
    end else if (running) begin
      cycles <= cycles + 32'd1;
      host_rng <= xorshift(host_rng);
      consumer_rng <= xorshift(consumer_rng);
      if (pending && !present) host_gaps <= host_gaps + 32'd1;
      if (present && i_ready) begin
        sent <= sent + 32'd1;
        rd <= (rd == {2 * ih - 1}) ? 32'd0 : rd + 32'd1;
        if (rd == {ih - 1} || rd == {2 * ih - 1}) in_halves <= in_halves + 32'd1;
        if (!seen_first) begin
          seen_first <= 1'b1;
          first_cycle <= cycles;
        end
      end
      if (o_valid && taking) begin
        out_mem[wr] <= o_payload;
        wr <= (wr == {2 * oh - 1}) ? 32'd0 : wr + 32'd1;
        if (wr == {oh - 1} || wr == {2 * oh - 1}) out_halves <= out_halves + 32'd1;
        received <= received + 32'd1;
        last_cycle <= cycles;
        if (received + 32'd1 == n_out) begin
          running <= 1'b0;
          finishing <= 1'b1;
        end
      end else if (o_valid) begin
        stall_cycles <= stall_cycles + 32'd1;
      end
      if (cycles >= cycle_limit) begin
        running <= 1'b0;
        hung <= 1'b1;
        done <= 1'b1;
      end
    end
  end
endmodule
"""
