using BlockStore.Core;

namespace BlockStore.Core.Tests;

public sealed class ValidationTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("db-01")]
    [InlineData("Data_Vol.2")]
    [InlineData("9lives")]
    public void Good_volume_names_pass(string name) => Validation.VolumeName(name);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-dash")]
    [InlineData(".dot")]
    [InlineData("has space")]
    [InlineData("semi;colon")]
    [InlineData("slash/name")]
    [InlineData("ünicode")]
    [InlineData("../etc")]
    public void Bad_volume_names_fail_with_InvalidVolumeName(string? name)
    {
        var e = Assert.Throws<BlockStoreException>(() => Validation.VolumeName(name));
        Assert.Equal(ErrorIds.InvalidVolumeName, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }

    [Fact]
    public void Names_are_at_most_63_characters()
    {
        Validation.VolumeName(new string('x', 63));
        Assert.Throws<BlockStoreException>(() => Validation.VolumeName(new string('x', 64)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(16384)]
    public void Sizes_from_1_to_16384_GiB_pass(long size) => Validation.VolumeSize(size);

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(16385)]
    [InlineData(long.MaxValue)]
    public void Other_sizes_fail_with_InvalidVolumeSize(long size)
    {
        var e = Assert.Throws<BlockStoreException>(() => Validation.VolumeSize(size));
        Assert.Equal(ErrorIds.InvalidVolumeSize, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
        Assert.Equal(size, e.Target);
    }

    [Fact]
    public void Descriptions_are_optional_and_bounded()
    {
        Validation.Description(null);
        Validation.Description(new string('d', 1024));
        Assert.Equal(ErrorIds.InvalidDescription, Assert.Throws<BlockStoreException>(() => Validation.Description(new string('d', 1025))).ErrorId);
    }

    [Theory]
    [InlineData("nova", true)]
    [InlineData("zone-2.east", true)]
    [InlineData("Nova", false)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    public void Zones_are_lower_case_dns_labels(string zone, bool ok)
    {
        if (ok)
        {
            Validation.AvailabilityZone(zone);
        }
        else
        {
            Assert.Equal(ErrorIds.InvalidAvailabilityZone, Assert.Throws<BlockStoreException>(() => Validation.AvailabilityZone(zone)).ErrorId);
        }
    }

    [Theory]
    [InlineData("available", "available")]
    [InlineData("In-Use", "in-use")]
    [InlineData("ERROR_DELETING", "error_deleting")]
    public void Volume_status_names_come_back_canonical(string given, string canonical) =>
        Assert.Equal(canonical, Validation.VolumeStatusName(given));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("availble")]
    [InlineData("in_use")]
    [InlineData("available ")]
    public void Unknown_volume_statuses_fail_with_InvalidVolumeStatus(string? status)
    {
        var e = Assert.Throws<BlockStoreException>(() => Validation.VolumeStatusName(status));
        Assert.Equal(ErrorIds.InvalidVolumeStatus, e.ErrorId);
        Assert.Equal(ErrorKind.InvalidArgument, e.Kind);
    }
}
