namespace Cmtm.IO.Checkpoints;

/// <summary>CRC-32 (IEEE 802.3, as zip uses), slicing-by-8. Used only for compressed zip entries.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = Build();

    private static uint[] Build()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        for (int i = 0; i < 256; i++)
            for (int s = 1; s < 8; s++)
                t[s * 256 + i] = (t[(s - 1) * 256 + i] >> 8) ^ t[t[(s - 1) * 256 + i] & 0xff];
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        var t = Table;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            uint a = crc ^ BitConverter.ToUInt32(data.Slice(i, 4));
            uint b = BitConverter.ToUInt32(data.Slice(i + 4, 4));
            crc = t[7 * 256 + (a & 0xff)] ^ t[6 * 256 + ((a >> 8) & 0xff)] ^ t[5 * 256 + ((a >> 16) & 0xff)] ^ t[4 * 256 + (a >> 24)]
                ^ t[3 * 256 + (b & 0xff)] ^ t[2 * 256 + ((b >> 8) & 0xff)] ^ t[256 + ((b >> 16) & 0xff)] ^ t[b >> 24];
        }
        for (; i < data.Length; i++) crc = t[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
        return ~crc;
    }
}
