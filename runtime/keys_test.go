package runtime

import "github.com/gale-stream/gale/internal/keygroup"

func keygroupKey(v any) []byte { return keygroup.AppendKey(nil, v) }
