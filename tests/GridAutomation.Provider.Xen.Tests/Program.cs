using System;
using GridAutomation.Provider.Xen.Tests.Server;

namespace GridAutomation.Provider.Xen.Tests
{
    /// <summary>
    /// Entry point of the test assembly when run as a child process: "serve &lt;dump&gt; [user] [password]" starts the
    /// fake XAPI over that recorded pool (tests/pester/Provider.Xen.Tests.ps1 uses it), prints "URL &lt;url&gt;", and
    /// runs until its standard input closes.
    /// </summary>
    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length < 2 || args[0] != "serve") { Console.Error.WriteLine("usage: serve <dump file name> [user] [password]"); return 2; }
            using var server = FakeXapi.FromFixture(args[1]);
            if (args.Length > 2) server.User = args[2];
            if (args.Length > 3) server.Password = args[3];
            Console.WriteLine("URL " + server.Url);
            Console.Out.Flush();
            while (Console.In.ReadLine() != null) { }
            return 0;
        }
    }
}
