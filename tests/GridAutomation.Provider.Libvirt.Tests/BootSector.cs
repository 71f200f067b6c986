using System;
using System.Collections.Generic;

namespace GridAutomation.Provider.Libvirt.Tests
{
    /// <summary>
    /// A 1 MiB raw disk whose boot sector is hand-written x86 real-mode machine code: it prints
    /// "GRIDCOUNT xxxx\r\n" (xxxx = a 16-bit hex counter) on COM1 (port 0x3F8) about twice a second,
    /// waiting with HLT on the BIOS timer interrupt between lines, forever. The counter lives in the
    /// guest's memory (register BX), so a guest restored from saved memory continues the count.
    /// </summary>
    internal static class BootSector
    {
        public const string Marker = "GRIDCOUNT ";

        /// <summary>A tiny emitter: bytes written by hand, with labels so jump offsets are computed rather than miscounted.</summary>
        private sealed class Asm
        {
            public readonly List<byte> Code = new List<byte>();
            private readonly Dictionary<string, int> _labels = new Dictionary<string, int>();
            private readonly List<(int At, string Label, int Size, bool Absolute)> _fixups = new List<(int, string, int, bool)>();
            public int Origin = 0x7C00;
            public Asm B(params byte[] bytes) { Code.AddRange(bytes); return this; }
            public Asm L(string name) { _labels[name] = Code.Count; return this; }
            public Asm Rel8(byte opcode, string label) { Code.Add(opcode); _fixups.Add((Code.Count, label, 1, false)); Code.Add(0); return this; }
            public Asm Rel16(byte opcode, string label) { Code.Add(opcode); _fixups.Add((Code.Count, label, 2, false)); Code.Add(0); Code.Add(0); return this; }
            public Asm Abs16(byte opcode, string label) { Code.Add(opcode); _fixups.Add((Code.Count, label, 2, true)); Code.Add(0); Code.Add(0); return this; }
            public byte[] Link()
            {
                foreach (var f in _fixups)
                {
                    int target = _labels[f.Label];
                    int value = f.Absolute ? Origin + target : target - (f.At + f.Size);
                    if (f.Size == 1)
                    {
                        if (value < -128 || value > 127) throw new InvalidOperationException("rel8 out of range: " + f.Label);
                        Code[f.At] = unchecked((byte)(sbyte)value);
                    }
                    else { Code[f.At] = (byte)(value & 0xFF); Code[f.At + 1] = (byte)((value >> 8) & 0xFF); }
                }
                return Code.ToArray();
            }
        }

        public static byte[] Sector()
        {
            var a = new Asm();
            a.B(0xFA)                    // cli
             .B(0xFC)                    // cld
             .B(0x31, 0xC0)              // xor ax,ax
             .B(0x8E, 0xD8)              // mov ds,ax
             .B(0x8E, 0xD0)              // mov ss,ax
             .B(0xBC, 0x00, 0x7C)        // mov sp,0x7C00
             .B(0xFB)                    // sti
             .B(0x31, 0xDB)              // xor bx,bx          ; the counter
             .L("main")
             .Abs16(0xBE, "msg")         // mov si,msg
             .Rel16(0xE8, "puts")        // call puts
             .B(0x89, 0xD8)              // mov ax,bx
             .Rel16(0xE8, "puthex")      // call puthex
             .B(0xB0, 0x0D)              // mov al,13
             .Rel16(0xE8, "putc")        // call putc
             .B(0xB0, 0x0A)              // mov al,10
             .Rel16(0xE8, "putc")        // call putc
             .B(0x43)                    // inc bx
             .B(0xB9, 0x09, 0x00)        // mov cx,9           ; 9 timer ticks (18.2 Hz) ≈ 0.5 s
             .L("wait")
             .B(0xF4)                    // hlt                ; sleep until the next interrupt
             .Rel8(0xE2, "wait")         // loop wait
             .Rel8(0xEB, "main")         // jmp main
             .L("putc")                  // putc: AL → COM1, waiting for the transmitter
             .B(0x52)                    // push dx
             .B(0x50)                    // push ax
             .B(0xBA, 0xFD, 0x03)        // mov dx,0x3FD       ; line status register
             .L("putc_wait")
             .B(0xEC)                    // in al,dx
             .B(0xA8, 0x20)              // test al,0x20       ; THR empty?
             .Rel8(0x74, "putc_wait")    // jz putc_wait
             .B(0x58)                    // pop ax
             .B(0xBA, 0xF8, 0x03)        // mov dx,0x3F8       ; transmit holding register
             .B(0xEE)                    // out dx,al
             .B(0x5A)                    // pop dx
             .B(0xC3)                    // ret
             .L("puts")                  // puts: DS:SI zero-terminated
             .B(0xAC)                    // lodsb
             .B(0x84, 0xC0)              // test al,al
             .Rel8(0x74, "puts_done")    // jz puts_done
             .Rel16(0xE8, "putc")        // call putc
             .Rel8(0xEB, "puts")         // jmp puts
             .L("puts_done")
             .B(0xC3)                    // ret
             .L("puthex")                // puthex: AX as 4 hex digits
             .B(0xB9, 0x04, 0x00)        // mov cx,4
             .L("hex_loop")
             .B(0xC1, 0xC0, 0x04)        // rol ax,4
             .B(0x50)                    // push ax
             .B(0x24, 0x0F)              // and al,0x0F
             .B(0x04, 0x30)              // add al,'0'
             .B(0x3C, 0x39)              // cmp al,'9'
             .Rel8(0x76, "hex_digit")    // jbe hex_digit
             .B(0x04, 0x07)              // add al,7           ; 'A'..'F'
             .L("hex_digit")
             .Rel16(0xE8, "putc")        // call putc
             .B(0x58)                    // pop ax
             .Rel8(0xE2, "hex_loop")     // loop hex_loop
             .B(0xC3)                    // ret
             .L("msg");
            foreach (char c in Marker) a.B((byte)c);
            a.B(0x00);
            var code = a.Link();
            if (code.Length > 510) throw new InvalidOperationException("boot sector too long");
            var sector = new byte[512];
            Array.Copy(code, sector, code.Length);
            sector[510] = 0x55; sector[511] = 0xAA;
            return sector;
        }

        /// <summary>The code bytes (up to the last non-zero byte before the 0x55AA signature) in hex: tests/pester/Provider.Libvirt.LiveMove.Tests.ps1 writes the same sector.</summary>
        public static string CodeHex()
        {
            var s = Sector();
            int n = 510;
            while (n > 0 && s[n - 1] == 0) n--;
            return Convert.ToHexString(s, 0, n);
        }

        /// <summary>The 1 MiB raw disk image: the boot sector, then zeros.</summary>
        public static byte[] Disk()
        {
            var disk = new byte[1024 * 1024];
            Array.Copy(Sector(), disk, 512);
            return disk;
        }
    }
}

namespace GridAutomation.Provider.Libvirt.Tests
{
    public sealed class BootSectorTests
    {
        /// <summary>The Pester live-move test writes the counting boot sector from a hex copy: it must be this very sector.</summary>
        [Xunit.Fact]
        public void PesterCopy_IsTheSameSector()
        {
            var dir = new System.IO.DirectoryInfo(System.AppContext.BaseDirectory);
            while (dir != null && !System.IO.File.Exists(System.IO.Path.Combine(dir.FullName, "tests", "pester", "Provider.Libvirt.LiveMove.Tests.ps1"))) dir = dir.Parent;
            Xunit.Assert.NotNull(dir);
            string text = System.IO.File.ReadAllText(System.IO.Path.Combine(dir!.FullName, "tests", "pester", "Provider.Libvirt.LiveMove.Tests.ps1"));
            var m = System.Text.RegularExpressions.Regex.Match(text, @"\$hex = '([0-9A-F]+)'");
            Xunit.Assert.True(m.Success, "no $hex line in the Pester file");
            Xunit.Assert.Equal(BootSector.CodeHex(), m.Groups[1].Value);
        }
    }
}
