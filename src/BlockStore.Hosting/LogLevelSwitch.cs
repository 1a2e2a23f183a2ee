using Microsoft.Extensions.Logging;

namespace BlockStore.Hosting;

/// <summary>
/// The process's current minimum log level, changed at run time from the service row
/// (Set-BlockVolumeServiceLogLevel) without a restart. Wired in as a logging filter.
/// </summary>
public sealed class LogLevelSwitch
{
    private volatile int _level = (int)LogLevel.Information;

    public LogLevel Level
    {
        get => (LogLevel)_level;
        set => _level = (int)value;
    }

    public bool IsEnabled(LogLevel level) => level != LogLevel.None && level >= Level;
}
