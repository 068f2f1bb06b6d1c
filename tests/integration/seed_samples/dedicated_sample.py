# The seed's dedicated-edition sample program (shared/seed/000_02355fee3b8b6ba1.txt, "專享版 / 程式碼範例"), reformatted
# from the one-line copy in the seed. Only the call information (URL, token) is replaced, here by environment
# variables (SAMPLE_URL, SAMPLE_TOKEN) or argv[1], argv[2], so a test can point it at the local emulator.
# Changes, each marked "was:":
# - `requests` is not installed in this project: requests.session() is ported to httpx.Client(), which has the same
#   call shapes (headers.update, post(url=, json=), get(url=), status_code, content, json()).
# - The seed GETs /history/<prompt_id> once, right after the POST. Any ComfyUI answers {} while the job is still
#   queued or running (fixtures/comfyui README §10), so the seed would print {} and no file names. The port repeats
#   that same GET until the answer is non-empty (bounded); this is the only change to the program's logic.
import os
import sys
import time

import httpx

##### 根據調試資訊,替換以下參數 #####
url = sys.argv[1] if len(sys.argv) > 1 else os.environ["SAMPLE_URL"]
token = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("SAMPLE_TOKEN", "")
################################

payload = {
    "prompt": {
        "3": {
            "inputs": {
                "seed": 156680208700286,
                "steps": 20,
                "cfg": 8,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
            "class_type": "KSampler",
            "_meta": {"title": "K採樣器"},
        },
        "4": {
            "inputs": {"ckpt_name": "3dAnimationDiffusion_v10.safetensors"},
            "class_type": "CheckpointLoaderSimple",
            "_meta": {"title": "Checkpoint載入器(簡易)"},
        },
        "5": {
            "inputs": {"width": 512, "height": 512, "batch_size": 1},
            "class_type": "EmptyLatentImage",
            "_meta": {"title": "空Latent"},
        },
        "6": {
            "inputs": {"text": "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,", "clip": ["4", 1]},
            "class_type": "CLIPTextEncode",
            "_meta": {"title": "CLIP⽂本編碼器"},
        },
        "7": {
            "inputs": {"text": "text, watermark", "clip": ["4", 1]},
            "class_type": "CLIPTextEncode",
            "_meta": {"title": "CLIP⽂本編碼器"},
        },
        "8": {
            "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
            "class_type": "VAEDecode",
            "_meta": {"title": "VAE解碼"},
        },
        "9": {
            "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
            "class_type": "SaveImage",
            "_meta": {"title": "儲存映像"},
        },
    }
}

# 發起請求
session = httpx.Client()  # was: requests.session()
session.headers.update({"Authorization": f"{token}"})
prompt_url = url + "prompt"
response = session.post(url=f"{prompt_url}", json=payload)
if response.status_code != 200:
    raise Exception(response.content)
data = response.json()
prompt_id = data["prompt_id"]
print(f"get data: {data}, get prompt id: {prompt_id}")

# 擷取結果
# 構造請求URL
history_url = f"{url}history/{prompt_id}"
session = httpx.Client()  # was: requests.session()
session.headers.update({"Authorization": f"{token}"})
response = session.get(url=f"{history_url}")
deadline = time.monotonic() + 60  # was: a single GET (see the header)
while response.status_code == 200 and response.json() == {} and time.monotonic() < deadline:
    time.sleep(0.05)
    response = session.get(url=f"{history_url}")
if response.status_code != 200:
    raise Exception(response.content)
data = response.json()
print(data)
# 解析 JSON 資料,擷取所有 outputs 的圖片資訊
for prompt_id, prompt_data in data.items():
    outputs = prompt_data.get("outputs", {})
    for node_id, node_data in outputs.items():
        images = node_data.get("images", [])
        for image in images:
            filename = image.get("filename")
            print(f"節點號: {node_id}, 圖⽚⽂件名: {filename}")
