"""The preset deflate dictionaries of version-2 and -3 headers (part of the format: never edit a
dictionary once released; add a new one under a new id).

A small model's header is mostly the same words every time (field names, RAS meta keys, layer
names, the engine's reasons); deflate starts from an empty window, so on a header of a few
hundred bytes it pays for each once. A preset dictionary (RFC 1950, FDICT) holding them halved
the header of an 8-tensor CNN (633 -> ~300 bytes). Deflate codes nearer matches with fewer
bits, so the most common strings are at the end.
"""

from __future__ import annotations

__all__ = ["DICTIONARIES"]

_D1 = b"".join([
    # layer and tensor names of common architectures (torchvision, timm, transformers)
    b'"model.layers.self_attn.q_proj.k_proj.v_proj.o_proj.mlp.gate_proj.up_proj.down_proj.'
    b'input_layernorm.post_attention_layernorm.embed_tokens.lm_head.transformer.h.attn.c_attn.'
    b'c_proj.c_fc.ln_1.ln_2.wte.wpe.encoder.decoder.embeddings.word_embeddings.position_embeddings.'
    b'attention.output.dense.intermediate.LayerNorm.blocks.norm1.norm2.qkv.proj.fc1.fc2.head.'
    b'pos_embed.cls_token.patch_embed.features.classifier.downsample.0.1.2.3.layer1.layer2.layer3.'
    b'layer4.conv1.bn1.conv2.bn2.conv3.bn3.fc.running_mean","running_var","num_batches_tracked",',
    # the engine's fields and reasons
    b'"engine":{"units":{},"schedule":[],"reasons":{"":"not used in the traced forward",'
    b'"":"kept dense by ras override","":"empty tensor","":"cannot encode: ",'
    b'"":"RAS not smaller ( >= 0 bytes)"},"decode_ahead":"auto","auto_pays":false,'
    b'"plan":{"":{"kernel":"dense","shrunk","csr","csr_shift","why":"","ms":0.0,"chain":',
    # RAS meta schemas (the wavelet-matrix and byte-group layouts) and array names
    b'"ras_schemas":[{"meta":["version","kind","sparse","codebook","sign_raw","max_distance",'
    b'"n_stream","n_entries","h0_total_bits","delimiter_bits","wm.n","wm.sigma",'
    b'"wm.max_code_length","wm.n_bits","wm.symbols_as","values","bitmap"],"arrays":["wm.words",'
    b'"wm.rank_dir","wm.symbols","wm.lengths","wm.level_sizes","dist.words","raw","codebook"]},'
    b'{"meta":["version","layout","kind","codebook","pairs","total_bits","h0_total_bits"],'
    b'"arrays":["words","symbols","lengths","sel","codebook"]}],'
    b'"bytegroup","element","block",true,false,null,',
    # RAS schemas as the writer emits them (values shared by a model's tensors in "const")
    b'{"meta":["kind","max_distance","n_stream","n_entries","h0_total_bits","delimiter_bits",'
    b'"wm.n","wm.sigma","wm.n_bits","dist.n","dist.sigma","dist.n_bits","dist.symbols_as"],'
    b'"arrays":["wm.words","wm.rank_dir","wm.symbols","wm.lengths","wm.level_sizes","dist.words",'
    b'"dist.rank_dir","dist.symbols","dist.lengths","dist.level_sizes","raw"],"const":{"version":1,'
    b'"kind":"element","sparse":true,"codebook":false,"sign_raw":false,"max_distance":255,'
    b'"wm.sigma":513,"wm.max_code_length":32,"wm.symbols_as":"values","dist.max_code_length":32,'
    b'"dist.symbols_as":"bitmap"},"dtypes":[8,8,6,5,null,8,8,8,5,null,8]},',
    b'{"meta":[],"arrays":[],"const":{"version":1,"kind":"element","sparse":true,"codebook":false,'
    b'"sign_raw":false,"max_distance":3,"n_stream":0,"n_entries":0,"h0_total_bits":0.0,'
    b'"delimiter_bits":0.0}},',
    b'{"meta":["kind","codebook","pairs","total_bits"],"arrays":["words","symbols","sel"],'
    b'"const":{"version":1,"layout":"bytegroup","kind":"block","codebook":false,"pairs":false},'
    b'"dtypes":[8,5,7]},{"meta":["total_bits"],"arrays":["words","symbols"],"const":{"version":1,'
    b'"layout":"bytegroup","kind":"element","codebook":true,"pairs":true},"dtypes":[8,5]}],',
    # the top level and tensor rows
    b'{"format":"sckit-container","version":2,"kind":"succinct","dense","checkpoint",'
    b'"metadata":{"format":"pt"},"model":{"class":"sckit.zoo.","zoo":{"name":"","kwargs":{}}},'
    b'"training":[""],"tensors":[{"n":"","d":"bfloat16","d":"float16","d":"int64","d":"uint8",'
    b'"b":1,"g":false,"t":"","d":"float32","s":[],"r":[0,1,"a":[[8,[5,[16]],[7,[16]]],"c":',
    b'{"n":".weight","d":"float32","s":[64,64,3,3],"c":1},{"n":".bias","d":"float32","s":[64],"c":',
])  # fmt: skip

# Format 3's headers: schemas with "same" and "derived" (sckit.container.writer), tensor rows
# without derived lengths, units left out. Dictionary 1 plus the strings they add, gathered from
# the headers of the zoo's models compressed dense, pruned and quantized.
_D2 = _D1 + b"".join([
    b'{"meta":["kind","codebook","pairs","total_bits"],"arrays":["words","symbols","sel"],'
    b'"const":{"version":1,"layout":"bytegroup","kind":"block","codebook":true,"pairs":false},'
    b'"dtypes":[8,5,7],"derived":["sel"]},',
    b'{"meta":["kind","n_stream","n_entries","wm.sigma","wm.n_bits"],'
    b'"arrays":["wm.words","wm.rank_dir","wm.symbols","wm.lengths","wm.level_sizes","codebook"],'
    b'"const":{"version":1,"kind":"block","sparse":false,"codebook":true,"sign_raw":false,'
    b'"max_distance":null,"wm.max_code_length":32,"wm.symbols_as":"bitmap"},"same":{"wm.n":"n_stream"},'
    b'"dtypes":[8,8,8,5,null,7],"derived":["wm.words","wm.rank_dir","wm.symbols"]},',
    b'{"meta":["kind","n_stream","n_entries","wm.sigma","wm.n_bits",'
    b'"dist.sigma","dist.n_bits"],"arrays":["wm.words","wm.rank_dir","wm.symbols","wm.lengths",'
    b'"wm.level_sizes","dist.words","dist.rank_dir","dist.symbols","dist.lengths","dist.level_sizes",'
    b'"codebook"],"const":{"version":1,"kind":"element","sparse":true,"codebook":true,"sign_raw":false,'
    b'"max_distance":255,"wm.max_code_length":32,"wm.symbols_as":"bitmap","dist.max_code_length":32,'
    b'"dist.symbols_as":"bitmap"},"same":{"wm.n":"n_stream","dist.n":"n_entries"},'
    b'"dtypes":[8,8,8,5,6,8,8,8,5,6,7],"derived":["wm.words","wm.rank_dir","wm.symbols","dist.words",'
    b'"dist.rank_dir","dist.symbols"]},',
    b'{"meta":["kind","max_distance","n_stream","n_entries",'
    b'"wm.n_bits","dist.sigma","dist.n_bits"],"arrays":["wm.words","wm.rank_dir","wm.symbols",'
    b'"wm.lengths","wm.level_sizes","dist.words","dist.rank_dir","dist.symbols","dist.lengths",'
    b'"dist.level_sizes","raw"],"const":{"version":1,"kind":"element","sparse":true,"codebook":false,'
    b'"sign_raw":false,"max_distance":255,"wm.sigma":513,"wm.max_code_length":32,"wm.symbols_as":'
    b'"values","dist.max_code_length":32,"dist.symbols_as":"bitmap"},"same":{"wm.n":"n_stream",'
    b'"dist.n":"n_entries"},"dtypes":[8,8,6,5,null,8,8,8,5,null,8],"derived":["wm.words",'
    b'"wm.rank_dir","dist.words","dist.rank_dir","dist.symbols","raw"]},',
    b'{"meta":["kind","codebook","pairs","total_bits"],"arrays":["words","symbols"],"const":'
    b'{"version":1,"layout":"bytegroup","kind":"element","codebook":true,"pairs":true},"dtypes":[8,5]},',
    b'{"meta":["kind","total_bits"],"arrays":["words","symbols","sel"],"const":{"version":1,'
    b'"layout":"bytegroup","kind":"element","codebook":false,"pairs":true},"dtypes":[8,5,7],'
    b'"derived":["words","sel"]},',
    b'{"meta":["kind","total_bits"],"arrays":["words","symbols"],"const":{"version":1,"layout":'
    b'"bytegroup","kind":"element","codebook":false,"pairs":true},"dtypes":[8,5],"derived":["words"]}],',
    b'{"format":"sckit-container","version":3,"kind":"succinct","model":{"class":"sckit.zoo.",'
    b'"zoo":{"name":"","kwargs":{}}},"engine":{"reasons":{"":"RAS not smaller (101 >= 40 bytes)",'
    b'"":"RAS not smaller ( >= 0 bytes)"},"decode_ahead":false},"ras_schemas":[',
    b'"tensors":[{"n":".weight","d":"float32","s":[,],"r":[0,"a":[3,3,[6,2],"c":'
    b'{"n":".bias","d":"float32","s":[],"r":[1,"a":[[8,[5,',
])  # fmt: skip

# id (stored in the prefix) -> dictionary; id 0 is plain deflate
DICTIONARIES: dict[int, bytes] = {0: b"", 1: _D1, 2: _D2}
