using System.Security.Cryptography;

namespace BlockStore.Data;

/// <summary>
/// New CHAP credentials for an attachment. Generated where the request is written (not in Core,
/// which holds only pure rules, nor in the agent): every retry of the attach, by any agent process,
/// then programs the same credentials the requester was given.
/// </summary>
internal static class ChapCredentials
{
    // Letters and digits only: the credentials go into targetcli command lines.
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    /// <summary>
    /// A 20-character user name and a 16-character secret (Cinder's lengths; 12-16 characters is
    /// what most initiators accept), from a cryptographic generator.
    /// </summary>
    public static (string UserName, string Secret) Generate() =>
        (RandomNumberGenerator.GetString(Alphabet, 20), RandomNumberGenerator.GetString(Alphabet, 16));
}
