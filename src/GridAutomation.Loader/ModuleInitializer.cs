using System.Management.Automation;

namespace GridAutomation.Loader
{
    /// <summary>
    /// PowerShell calls <see cref="OnImport"/> when GridAutomation.psd1 imports this assembly as its first nested
    /// module, i.e. before the cmdlet assembly (GridAutomation.dll) is loaded and scanned for cmdlets. From then on
    /// every dependency of the cmdlets resolves from the module's private Dependencies/ folder.
    /// </summary>
    public sealed class ModuleInitializer : IModuleAssemblyInitializer
    {
        public void OnImport() => DependencyLoader.Register();
    }
}
