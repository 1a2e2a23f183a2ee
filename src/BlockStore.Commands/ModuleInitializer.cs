using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace BlockStore.Commands;

/// <summary>
/// Dependency isolation (the pattern PowerShell's docs and PSResourceGet use). The cmdlet assembly
/// and BlockStore.Core (which holds every type PowerShell sees) load in the default context.
/// BlockStore.Data and its dependencies (Npgsql, Microsoft.Extensions.*, DbUp) live in
/// Dependencies/ and load in a private AssemblyLoadContext, so another module's older copies of
/// the same assemblies cannot clash with ours, nor ours with theirs.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private static readonly string ModuleDirectory = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!;
    private static readonly string DependencyDirectory = Path.Combine(ModuleDirectory, "Dependencies");
    private static readonly EngineLoadContext Engine = new(DependencyDirectory);

    public void OnImport() => AssemblyLoadContext.Default.Resolving += ResolveEngine;

    public void OnRemove(PSModuleInfo psModuleInfo) => AssemblyLoadContext.Default.Resolving -= ResolveEngine;

    // Only the engine assembly is resolved from the default context; everything it needs is then
    // resolved by the engine's own context.
    private static Assembly? ResolveEngine(AssemblyLoadContext context, AssemblyName name) =>
        name.Name == "BlockStore.Data" ? Engine.LoadFromAssemblyName(name) : null;

    private sealed class EngineLoadContext(string directory) : AssemblyLoadContext("BlockStore.Engine", isCollectible: false)
    {
        protected override Assembly? Load(AssemblyName name)
        {
            // BlockStore.Core must be the default context's copy: its types cross the boundary.
            if (name.Name == "BlockStore.Core")
            {
                return null;
            }

            var path = Path.Combine(directory, name.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName) => IntPtr.Zero;
    }
}
