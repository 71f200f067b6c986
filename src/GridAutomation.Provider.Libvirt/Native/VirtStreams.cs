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
            => Pump(conn, vol, upload: false, progress, ct, target, (st, buf) =>
            {
                int n = StreamNative.virStreamRecv(st, buf, (UIntPtr)buf.Length);
                if (n < 0) throw Fail("Cannot read the volume stream", target);
                sink.Write(buf, 0, n);
                return n;
            });

        /// <summary>Streams <paramref name="source"/> into a volume (replacing its content) from offset 0.</summary>
        public static long Upload(ConnectHandle conn, VolumeHandle vol, Stream source, Action<long>? progress, CancellationToken ct, object? target = null)
            => Pump(conn, vol, upload: true, progress, ct, target, (st, buf) =>
            {
                int n = source.Read(buf, 0, buf.Length);
                for (int off = 0; off < n;)
                {
                    var part = off == 0 ? buf : buf.AsSpan(off, n - off).ToArray();
                    int sent = StreamNative.virStreamSend(st, part, (UIntPtr)(n - off));
                    if (sent < 0) throw Fail("Cannot write the volume stream", target);
                    off += sent;
                }
                return n;
            });

        /// <summary>Opens a volume stream one way, moves chunks until <paramref name="chunk"/> returns 0, finishes it (aborted on any failure).</summary>
        private static long Pump(ConnectHandle conn, VolumeHandle vol, bool upload, Action<long>? progress, CancellationToken ct, object? target, Func<StreamHandle, byte[], int> chunk)
        {
            string way = upload ? "upload" : "download";
            using var st = CheckHandle(StreamNative.virStreamNew(conn, 0), "Cannot open a libvirt stream", target);
            Check(upload ? StreamNative.virStorageVolUpload(vol, st, 0, 0, 0) : StreamNative.virStorageVolDownload(vol, st, 0, 0, 0), "Cannot start the volume " + way, target);
            var buf = new byte[StreamChunk];
            long total = 0;
            bool finished = false;
            try
            {
                while (true)
                {
                    ct.ThrowIfCancellationRequested();
                    int n = chunk(st, buf);
                    if (n == 0) break;
                    total += n;
                    progress?.Invoke(total);
                }
                Check(StreamNative.virStreamFinish(st), "Cannot finish the volume " + way, target);
                finished = true;
                return total;
            }
            finally { if (!finished) StreamNative.virStreamAbort(st); }
        }
    }
}
