using System.Reflection;
using BlockStore.HelpGen;

// Usage: BlockStore.HelpGen --docs <docs folder> --module <laid-out module folder> [--scaffold] [--update]
//   default     check the docs against the cmdlets and write <module>/en-US/<assembly>-Help.xml and about_*.help.txt;
//               exit 1 (build fails) on any problem
//   --scaffold  also write docs/<Verb-Noun>.md skeletons for exported cmdlets that have none
//   --update    also rewrite SYNTAX and the yaml blocks of existing docs from the code (prose is kept)
string? docs = null, module = null;
bool scaffold = false, update = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--docs": docs = args[++i]; break;
        case "--module": module = args[++i]; break;
        case "--scaffold": scaffold = true; break;
        case "--update": update = true; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

if (docs is null || module is null)
{
    Console.Error.WriteLine("usage: BlockStore.HelpGen --docs <folder> --module <folder> [--scaffold] [--update]");
    return 2;
}

docs = Path.GetFullPath(docs);
module = Path.GetFullPath(module);
var reader = new ModuleReader(module);
var problems = new List<string>();
var exported = reader.ExportedCmdletNames();
foreach (var wildcard in exported.Where(n => n.IndexOfAny(['*', '?', '[']) >= 0))
{
    problems.Add($"{reader.Manifest}: CmdletsToExport has the wildcard '{wildcard}': list every cmdlet by name.");
}

var assembly = reader.LoadCmdletAssembly();
var types = ModuleReader.CmdletTypes(assembly);
foreach (var notExported in types.Keys.Where(t => !exported.Contains(t, StringComparer.OrdinalIgnoreCase)).Order())
{
    Console.WriteLine($"warning: {notExported} is a cmdlet in {assembly.GetName().Name} but not in CmdletsToExport (not documented).");
}

var documented = new List<(CommandModel, CommandDoc)>();
foreach (var name in exported.Where(n => n.IndexOfAny(['*', '?', '[']) < 0))
{
    if (!types.TryGetValue(name, out var type))
    {
        problems.Add($"{reader.Manifest}: exports '{name}', which {assembly.GetName().Name} does not define.");
        continue;
    }

    var model = ModuleReader.Describe(name, type);
    var path = Path.Combine(docs, name + ".md");
    var relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), path);
    var doc = File.Exists(path) ? MarkdownReader.ReadCommand(path) : null;
    if ((doc is null && scaffold) || (doc is not null && update))
    {
        File.WriteAllText(path, MarkdownWriter.Render(model, doc));
        Console.WriteLine($"{(doc is null ? "scaffolded" : "updated")} {relative}");
        doc = MarkdownReader.ReadCommand(path);
    }

    var found = DocChecker.Check(model, doc, relative);
    problems.AddRange(found);
    if (doc is not null && found.Count == 0)
    {
        documented.Add((model, doc));
    }
}

// The ErrorId catalogue: every constant of BlockStore.Core.ErrorIds has a row in about_BlockStore.
var about = Path.Combine(docs, "about_BlockStore.md");
var errorIds = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType("BlockStore.Core.ErrorIds")).FirstOrDefault(t => t is not null);
if (!File.Exists(about))
{
    problems.Add($"{about}: missing (the module's about topic, with the ErrorId catalogue).");
}
else if (errorIds is not null)
{
    var rows = File.ReadAllLines(about).Where(l => l.TrimStart().StartsWith('|')).ToList();
    foreach (var id in errorIds.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!))
    {
        if (!rows.Any(r => r.Contains($"`{id}`", StringComparison.Ordinal)))
        {
            problems.Add($"{Path.GetRelativePath(Directory.GetCurrentDirectory(), about)}: the ErrorId catalogue has no row for `{id}` (BlockStore.Core.ErrorIds).");
        }
    }
}

if (problems.Count > 0)
{
    foreach (var p in problems)
    {
        Console.Error.WriteLine("error: " + p);
    }

    Console.Error.WriteLine($"{problems.Count} documentation problem(s). See docs/README.md for the layout.");
    return 1;
}

var culture = Path.Combine(module, "en-US");
Directory.CreateDirectory(culture);
var maml = Path.Combine(culture, reader.RootAssemblyFile() + "-Help.xml");
MamlWriter.Write(documented).Save(maml);
Console.WriteLine($"wrote {maml} ({documented.Count} cmdlets)");
foreach (var topic in Directory.GetFiles(docs, "about_*.md"))
{
    var target = Path.Combine(culture, Path.GetFileNameWithoutExtension(topic) + ".help.txt");
    File.WriteAllText(target, AboutTopicWriter.Render(topic));
    Console.WriteLine($"wrote {target}");
}

return 0;
