using System;
using System.Collections.Generic;
using System.IO;
using GridAutomation.Core.Engine;
using GridAutomation.Core.Model;
using Xunit;

namespace GridAutomation.Core.Tests
{
    [CollectionDefinition("Environment", DisableParallelization = true)]
    public class EnvironmentCollection { }

    /// <summary>These tests change process environment variables, so they run alone.</summary>
    [Collection("Environment")]
    public sealed class GridConfigurationTests : IDisposable
    {
        private readonly TempDir _tmp = new TempDir();
        private readonly Dictionary<string, string?> _saved = new Dictionary<string, string?>();

        public GridConfigurationTests()
        {
            Set("GRIDAUTOMATION_CONFIG", _tmp.File("cfg/config.json"));
            foreach (var k in GridConfiguration.Keys) Set(k.EnvironmentVariable, null);
            Set("XDG_CONFIG_HOME", _tmp.File("xdg"));
        }

        private void Set(string name, string? value)
        {
            if (!_saved.ContainsKey(name)) _saved[name] = Environment.GetEnvironmentVariable(name);
            Environment.SetEnvironmentVariable(name, value);
        }

        public void Dispose()
        {
            foreach (var kv in _saved) Environment.SetEnvironmentVariable(kv.Key, kv.Value);
            _tmp.Dispose();
        }

        [Fact]
        public void Defaults_WhenNothingIsSet()
        {
            var c = GridConfiguration.Load();
            Assert.Equal(Path.Combine(_tmp.File("xdg"), "GridAutomation", "state.db"), c.StatePath);
            Assert.Equal(4, c.MaxConcurrencyPerDatacenter);
            Assert.Equal(4, c.RetryCount);
            Assert.Equal(60, c.RetryMaxDelaySeconds);
            Assert.Equal(1000, c.PageSize);
            Assert.Equal(120, c.LeaseTimeoutSeconds);
            Assert.Equal(_tmp.File("cfg/config.json"), c.ConfigFilePath);
            foreach (var k in GridConfiguration.Keys) Assert.Equal("Default", c.Sources[k.Name]);
        }

        [Fact]
        public void Precedence_Parameter_Over_Environment_Over_File_Over_Default()
        {
            GridConfiguration.Save(new Dictionary<string, string?> { ["PageSize"] = "10", ["RetryCount"] = "7", ["StatePath"] = _tmp.File("file.db"), ["MaxConcurrencyPerDatacenter"] = "2" });
            Set("GRIDAUTOMATION_RETRY_COUNT", "8");
            Set("GRIDAUTOMATION_STATE", _tmp.File("env.db"));
            var c = GridConfiguration.Load(new Dictionary<string, string> { ["statepath"] = _tmp.File("param.db") });
            Assert.Equal(_tmp.File("param.db"), c.StatePath);
            Assert.Equal("Parameter", c.Sources["StatePath"]);
            Assert.Equal(8, c.RetryCount);
            Assert.Equal("Environment", c.Sources["RetryCount"]);
            Assert.Equal(10, c.PageSize);
            Assert.Equal("File", c.Sources["PageSize"]);
            Assert.Equal(2, c.MaxConcurrencyPerDatacenter);
            Assert.Equal(60, c.RetryMaxDelaySeconds);
            Assert.Equal("Default", c.Sources["RetryMaxDelaySeconds"]);

            var noParam = GridConfiguration.Load();
            Assert.Equal(_tmp.File("env.db"), noParam.StatePath);
            Assert.Equal("Environment", noParam.Sources["StatePath"]);
            Set("GRIDAUTOMATION_STATE", "");
            Assert.Equal(_tmp.File("file.db"), GridConfiguration.Load().StatePath); // empty env = unset
        }

        [Fact]
        public void Save_NullRemovesKey_KeepsUnknownKeys_AndNeverTouchesTheStateStore()
        {
            string path = _tmp.File("cfg/config.json");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "{ \"FutureSetting\": [1,2], \"PageSize\": 50 }");
            Assert.Equal(50, GridConfiguration.Load().PageSize);
            GridConfiguration.Save(new Dictionary<string, string?> { ["PageSize"] = null, ["RetryCount"] = "1" });
            string text = File.ReadAllText(path);
            Assert.Contains("FutureSetting", text);
            Assert.DoesNotContain("PageSize", text);
            var c = GridConfiguration.Load();
            Assert.Equal(1000, c.PageSize);
            Assert.Equal(1, c.RetryCount);
            Assert.False(File.Exists(c.StatePath));
        }

        [Theory]
        [InlineData("PageSize", "0")]
        [InlineData("PageSize", "lots")]
        [InlineData("MaxConcurrencyPerDatacenter", "-1")]
        [InlineData("NoSuchSetting", "1")]
        public void Save_RefusesBadNamesAndValues_AndWritesNothing(string key, string value)
        {
            var ex = Assert.Throws<GridException>(() => GridConfiguration.Save(new Dictionary<string, string?> { ["RetryCount"] = "3", [key] = value }));
            Assert.Equal(GridErrorKind.InvalidRequest, ex.Kind);
            Assert.Equal("InvalidConfiguration", ex.ErrorId);
            Assert.False(File.Exists(_tmp.File("cfg/config.json")));
        }

        [Fact]
        public void BadEnvironmentValue_NamesTheVariable()
        {
            Set("GRIDAUTOMATION_PAGE_SIZE", "abc");
            var ex = Assert.Throws<GridException>(() => GridConfiguration.Load());
            Assert.Equal("InvalidConfiguration", ex.ErrorId);
            Assert.Contains("GRIDAUTOMATION_PAGE_SIZE", ex.Message);
        }

        [Fact]
        public void BadJsonFile_IsInvalidConfiguration()
        {
            string path = _tmp.File("cfg/config.json");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, "{ not json");
            var ex = Assert.Throws<GridException>(() => GridConfiguration.Load());
            Assert.Equal("InvalidConfiguration", ex.ErrorId);
            Assert.Contains(path, ex.Message);
        }

        [Fact]
        public void UnknownParameter_IsInvalidConfiguration()
            => Assert.Equal("InvalidConfiguration", Assert.Throws<GridException>(() => GridConfiguration.Load(new Dictionary<string, string> { ["Bogus"] = "1" })).ErrorId);

        [Fact]
        public void GetValue_ReturnsText()
        {
            var c = GridConfiguration.Load(new Dictionary<string, string> { ["PageSize"] = "77" });
            Assert.Equal("77", c.GetValue("pagesize"));
        }
    }
}
