using BlockStore.Hosting;

namespace BlockStore.Agent.Tests;

/// <summary>
/// Which metrics URL a host reports in its service row: its listener's own, or the advertised one
/// when scrapers reach it through a port forward or NAT (the lab's guest listens inside qemu).
/// </summary>
public class MetricsUrlTests
{
    private static BlockStoreOptions With(string url, string advertised = "") =>
        new() { Metrics = new MetricsOptions { Url = url, AdvertisedUrl = advertised } };

    [Fact]
    public void Metrics_off_reports_no_url_even_with_an_advertised_one()
    {
        Assert.Null(MetricsServer.AdvertisedMetricsUrlOf(With("")));
        Assert.Null(MetricsServer.AdvertisedMetricsUrlOf(With("  ", "http://127.0.0.1:9000/")));
    }

    [Theory]
    [InlineData("http://127.0.0.1:9464", "http://127.0.0.1:9464/metrics")]
    [InlineData("http://127.0.0.1:9464/", "http://127.0.0.1:9464/metrics")]
    public void Without_an_advertised_url_the_listener_is_reported(string url, string expected) =>
        Assert.Equal(expected, MetricsServer.AdvertisedMetricsUrlOf(With(url)));

    [Theory]
    [InlineData("http://127.0.0.1:31000", "http://127.0.0.1:31000/metrics")]
    [InlineData(" http://127.0.0.1:31000/ ", "http://127.0.0.1:31000/metrics")]
    public void An_advertised_url_replaces_a_wildcard_listener(string advertised, string expected)
    {
        var options = With("http://*:9464/", advertised);
        Assert.Equal(expected, MetricsServer.AdvertisedMetricsUrlOf(options));
        Assert.Equal("http://*:9464/", MetricsServer.PrefixOf(options));
    }
}
