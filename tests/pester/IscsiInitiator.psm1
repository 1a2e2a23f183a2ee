# A userspace iSCSI initiator on this host, for the guest tests that read and write through an
# exported LUN (the host kernel has no iscsi_tcp): libiscsi's tools (iscsi-readcapacity16,
# iscsi-inq) and qemu-io / qemu-img with qemu's libiscsi block driver (qemu-block-extra). They log
# in with an attachment's CHAP credentials through the portal it advertises (the guest's
# forwarded portal). The secret goes to qemu in a file (a secret object), never on its command line.

function Get-IscsiSecret([Parameter(Mandatory)][object] $Attachment) {
    <# The attachment's CHAP secret as text (New-BlockVolumeAttachment returns it as a SecureString). #>
    return [System.Net.NetworkCredential]::new('', $Attachment.AuthPassword).Password
}

function Invoke-IscsiTool {
    <# Runs a libiscsi tool (iscsi-readcapacity16, iscsi-inq) against the attachment's LUN: @{ Code; Output }. #>
    param([Parameter(Mandatory)][string] $Tool, [Parameter(Mandatory)][object] $Attachment, [Parameter(Mandatory)][string] $Initiator)
    $url = "iscsi://$($Attachment.AuthUsername)%$(Get-IscsiSecret $Attachment)@$($Attachment.TargetPortal)/$($Attachment.TargetIqn)/$($Attachment.TargetLun)"
    $out = & timeout 120 $Tool -i $Initiator $url 2>&1 | ForEach-Object { "$_" }
    return [pscustomobject]@{ Code = $LASTEXITCODE; Output = ($out -join "`n") }
}

function Get-IscsiLunBytes {
    <# The LUN's size in bytes as READ CAPACITY(16) reports it to a fresh session ('Total size:<n>'); throws when the tool fails. #>
    param([Parameter(Mandatory)][object] $Attachment, [Parameter(Mandatory)][string] $Initiator)
    $r = Invoke-IscsiTool iscsi-readcapacity16 $Attachment $Initiator
    if ($r.Code -ne 0 -or $r.Output -notmatch 'Total size:(\d+)') { throw "iscsi-readcapacity16 failed ($($r.Code)): $($r.Output)" }
    return [long]$Matches[1]
}

function Invoke-IscsiQemuIo {
    <#
    qemu-io with the libiscsi driver against the attachment's LUN, one -c per command
    ('write -P 0x5a 0 65536', 'read -P 0x5a 0 65536'): @{ Code; Output }. qemu-io exits 0 even
    when a pattern check fails, so callers look for 'Pattern verification failed' too.
    #>
    param([Parameter(Mandatory)][object] $Attachment, [Parameter(Mandatory)][string] $Initiator, [Parameter(Mandatory)][string[]] $Commands)
    $secretFile = Join-Path ([System.IO.Path]::GetTempPath()) "bs-chap-$([guid]::NewGuid().ToString('N')).txt"
    New-Item -ItemType File -Path $secretFile -Force | Out-Null
    & chmod 600 $secretFile
    [System.IO.File]::WriteAllText($secretFile, (Get-IscsiSecret $Attachment))
    $opts = "driver=iscsi,transport=tcp,portal=$($Attachment.TargetPortal),target=$($Attachment.TargetIqn),lun=$($Attachment.TargetLun)," +
        "initiator-name=$Initiator,user=$($Attachment.AuthUsername),password-secret=chap0"
    $cmdArgs = @('--object', "secret,id=chap0,file=$secretFile", '--image-opts', $opts)
    foreach ($c in $Commands) { $cmdArgs += @('-c', $c) }
    try { $out = & timeout 180 qemu-io @cmdArgs 2>&1 | ForEach-Object { "$_" } }
    finally { Remove-Item -LiteralPath $secretFile -Force -ErrorAction Ignore }
    return [pscustomobject]@{ Code = $LASTEXITCODE; Output = ($out -join "`n") }
}

function Test-IscsiPattern {
    <#
    Whether every byte of [Offset, Offset+Length) of the LUN is Pattern, read through iSCSI
    (qemu-io read -P). Throws when qemu-io cannot read at all, so a failed login is not a 'false'.
    #>
    param([Parameter(Mandatory)][object] $Attachment, [Parameter(Mandatory)][string] $Initiator,
        [Parameter(Mandatory)][string] $Pattern, [long] $Offset = 0, [long] $Length = 65536)
    $r = Invoke-IscsiQemuIo $Attachment $Initiator @("read -P $Pattern $Offset $Length")
    if ($r.Output -match 'Pattern verification failed') { return $false }
    if ($r.Code -ne 0 -or $r.Output -notmatch "read $Length/$Length bytes") { throw "qemu-io read failed ($($r.Code)): $($r.Output)" }
    return $true
}

Export-ModuleMember -Function Get-IscsiSecret, Invoke-IscsiTool, Get-IscsiLunBytes, Invoke-IscsiQemuIo, Test-IscsiPattern
