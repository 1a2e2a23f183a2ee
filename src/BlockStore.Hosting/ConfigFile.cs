using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace BlockStore.Hosting;

public static class ConfigFile
{
    /// <summary>
    /// --ConfigFile=path: reads a JSON configuration file, such as the one Register-BlockVolumeHost
    /// writes (it holds the host's database password, so secrets stay off the command line, where
    /// every user can read them in ps). Environment variables and the command line still win.
    /// Like ssh with its keys, refuses a file that other users can read.
    /// </summary>
    public static HostApplicationBuilder AddBlockStoreConfigFile(this HostApplicationBuilder builder, string[] args)
    {
        var path = builder.Configuration["ConfigFile"];
        if (string.IsNullOrWhiteSpace(path))
        {
            return builder;
        }

        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new InvalidOperationException($"--ConfigFile: {path} does not exist.");
        }

        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & others) != 0)
        {
            throw new InvalidOperationException(
                $"--ConfigFile: {path} can be read or written by other users and may hold a password: run 'chmod 600 {path}'.");
        }

        builder.Configuration.AddJsonFile(path, optional: false, reloadOnChange: false);
        builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddCommandLine(args);
        return builder;
    }
}
