using System.Text.Json;
using System.Text.Json.Serialization;

namespace BlockStore.Data;

/// <summary>
/// The JSON shapes the store writes and reads (extra specs, declared capabilities, an agent's
/// configuration file), generated at build time: the agent is compiled ahead of time (NativeAOT,
/// build.ps1), where reflection-based serialization is off. The output is the same as
/// JsonSerializer's defaults.
/// </summary>
[JsonSerializable(typeof(Dictionary<string, string>))]
[JsonSerializable(typeof(IReadOnlyDictionary<string, string>))]
[JsonSerializable(typeof(Dictionary<string, JsonElement>))]
[JsonSerializable(typeof(Dictionary<string, Dictionary<string, string>>))]
internal sealed partial class DataJson : JsonSerializerContext
{
    /// <summary>The same shapes written indented (an agent's configuration file, read by people).</summary>
    public static DataJson Indented { get; } = new(new JsonSerializerOptions { WriteIndented = true });
}
