using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Threading;
using Microsoft.Win32.SafeHandles;

namespace GridAutomation.Providers.Libvirt.Native
{
    internal sealed class StreamHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public StreamHandle() : base(true) { }
        protected override bool ReleaseHandle() => StreamNative.virStreamFree(handle) >= 0;
    }

    /// <summary>virStream and the volume upload/download calls that use it (blocking streams: no event loop needed).</summary>
    internal static class StreamNative
    {
        private const string Lib = NativeMethods.Lib;
        [DllImport(Lib)] public static extern StreamHandle virStreamNew(ConnectHandle conn, uint flags);
        [DllImport(Lib)] public static extern int virStreamFree(IntPtr st);
        [DllImport(Lib)] public static extern int virStreamSend(StreamHandle st, byte[] data, UIntPtr nbytes);
        [DllImport(Lib)] public static extern int virStreamRecv(StreamHandle st, byte[] data, UIntPtr nbytes);
        [DllImport(Lib)] public static extern int virStreamFinish(StreamHandle st);
        [DllImport(Lib)] public static extern int virStreamAbort(StreamHandle st);
        [DllImport(Lib)] public static extern int virStorageVolUpload(VolumeHandle vol, StreamHandle st, ulong offset, ulong length, uint flags);
        [DllImport(Lib)] public static extern int virStorageVolDownload(VolumeHandle vol, StreamHandle st, ulong offset, ulong length, uint flags);
    }

    internal static partial class Virt
    {
        private const int StreamChunk = 1 << 20; // 1 MiB at a time: a disk never sits in memory whole

        /// <summary>Streams a volume's bytes (as stored: qcow2 stays qcow2) into <paramref name="sink"/>; returns the byte count.</summary>
        public static long Download(ConnectHandle conn, VolumeHandle vol, Stream sink, Action<long>? progress, CancellationToken ct, object? target = null)
        {
            using var st = CheckHandle(StreamNative.virStreamNew(conn, 0), "Cannot open a libvirt stream", target);
            Check(StreamNative.virStorageVolDownload(vol, st, 0, 0, 0), "Cannot download the volume", target);
            var buf = new byte[StreamChunk];
            long total = 0;
            bool finished = false;
            try
            {
                while (true)
                {
                    ct.ThrowIfCancellationRequested();
                    int n = StreamNative.virStreamRecv(st, buf, (UIntPtr)buf.Length);
                    if (n < 0) throw Fail("Cannot read the volume stream", target);
                    if (n == 0) break;
                    sink.Write(buf, 0, n);
                    total += n;
                    progress?.Invoke(total);
                }
                Check(StreamNative.virStreamFinish(st), "Cannot finish the volume download", target);
                finished = true;
                return total;
            }
            finally { if (!finished) StreamNative.virStreamAbort(st); }
        }

        /// <summary>Streams <paramref name="source"/> into a volume (replacing its content) from offset 0.</summary>
        public static long Upload(ConnectHandle conn, VolumeHandle vol, Stream source, Action<long>? progress, CancellationToken ct, object? target = null)
        {
            using var st = CheckHandle(StreamNative.virStreamNew(conn, 0), "Cannot open a libvirt stream", target);
            Check(StreamNative.virStorageVolUpload(vol, st, 0, 0, 0), "Cannot upload into the volume", target);
            var buf = new byte[StreamChunk];
            long total = 0;
            bool finished = false;
            try
            {
                while (true)
                {
                    ct.ThrowIfCancellationRequested();
                    int n = source.Read(buf, 0, buf.Length);
                    if (n == 0) break;
                    int off = 0;
                    while (off < n)
                    {
                        var part = off == 0 ? buf : buf.AsSpan(off, n - off).ToArray();
                        int sent = StreamNative.virStreamSend(st, part, (UIntPtr)(n - off));
                        if (sent < 0) throw Fail("Cannot write the volume stream", target);
                        off += sent;
                    }
                    total += n;
                    progress?.Invoke(total);
                }
                Check(StreamNative.virStreamFinish(st), "Cannot finish the volume upload", target);
                finished = true;
                return total;
            }
            finally { if (!finished) { StreamNative.virStreamAbort(st); } }
        }
    }
}
