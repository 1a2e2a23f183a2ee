using System.Text;
using BlockStore.Core;

namespace BlockStore.Commands;

/// <summary>
/// A file for secrets (Register-BlockVolumeHost -OutFile), opened before anything is changed so
/// that a file that cannot be written fails first, and readable by its owner only at every moment:
/// created 0600, or set to 0600 before an existing file is touched. An existing file keeps its old
/// content until <see cref="Replace"/>; a file created here is removed again by <see cref="Abandon"/>.
/// </summary>
internal sealed class OutputFile : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly FileStream _stream;
    private readonly string _path;
    private readonly bool _created;

    private OutputFile(FileStream stream, string path, bool created)
    {
        _stream = stream;
        _path = path;
        _created = created;
    }

    /// <summary>
    /// The file system path of an -OutFile argument (relative to the session's location), or
    /// InvalidOutFile when it names a folder or a file in a folder that does not exist.
    /// </summary>
    public static string Resolve(System.Management.Automation.PSCmdlet cmdlet, string outFile)
    {
        var path = cmdlet.GetUnresolvedProviderPathFromPSPath(outFile);
        var dir = Path.GetDirectoryName(path);
        if (Directory.Exists(path) || (dir is not null && !Directory.Exists(dir)))
        {
            throw new BlockStoreException(ErrorIds.InvalidOutFile, ErrorKind.InvalidArgument,
                $"-OutFile '{outFile}' must name a file in an existing folder.", outFile);
        }

        return path;
    }

    /// <summary>Opens (or creates) <paramref name="path"/> for writing, or throws InvalidOutFile naming <paramref name="asGiven"/>.</summary>
    public static OutputFile Open(string path, string asGiven)
    {
        try
        {
            var exists = File.Exists(path);
            if (exists && !OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, OwnerOnly);
            }

            var options = new FileStreamOptions { Mode = exists ? FileMode.Open : FileMode.CreateNew, Access = FileAccess.Write };
            if (!exists && !OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly;
            }

            return new OutputFile(new FileStream(path, options), path, created: !exists);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlockStoreException(ErrorIds.InvalidOutFile, ErrorKind.InvalidArgument,
                $"-OutFile '{asGiven}' cannot be written: {e.Message} Nothing was registered.", asGiven, e);
        }
    }

    /// <summary>Replaces the file's content with <paramref name="text"/> (UTF-8).</summary>
    public void Replace(string text)
    {
        _stream.SetLength(0);
        _stream.Write(Encoding.UTF8.GetBytes(text));
        _stream.Flush();
    }

    /// <summary>Nothing is written after all: a file created by Open is removed, an existing one is left as it was.</summary>
    public void Abandon()
    {
        _stream.Dispose();
        if (_created)
        {
            File.Delete(_path);
        }
    }

    public void Dispose() => _stream.Dispose();
}
