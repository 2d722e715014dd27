/* placeholder: replaced when the codec module lands */
typedef int azs_codec_placeholder;
