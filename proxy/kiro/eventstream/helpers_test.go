package eventstream

import (
	"encoding/binary"
	"hash/crc32"
)

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// frameWithRawHeaders builds a frame with valid CRCs around a raw header block.
func frameWithRawHeaders(h []byte) []byte {
	total := 16 + len(h)
	b := binary.BigEndian.AppendUint32(nil, uint32(total))
	b = binary.BigEndian.AppendUint32(b, uint32(len(h)))
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	b = append(b, h...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}
